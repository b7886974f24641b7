"""The deployment as it travels through the state machine: one record, plain data, JSON in and out.

The state carries the deployment without its functions (`to_state`): they live in the functions table
(canary_core.targets), so the state stays a few hundred bytes whatever their number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

LATEST = "$LATEST"


@dataclass(frozen=True)
class Defaults:
    """The stack's parameters: the values of every field the execution input leaves out, and the limits of
    what the input may ask (the stack sets policy; the input can only be stricter)."""

    alias: str
    weight: float
    pre_approve: bool
    approval_timeout_seconds: int
    on_timeout: str = "rollback"
    allow_pre_approve: bool = False  # the input may ask for pre-approval although pre_approve is False
    allow_on_timeout_promote: bool = False  # the input may ask for on_timeout promote although on_timeout is rollback
    max_weight: float = 0.5  # the highest weight the new version may get while the decision is pending
    min_promote_timeout_seconds: int = 900  # the shortest approval window when the deadline would promote


@dataclass(frozen=True)
class FunctionTarget:
    """One function of a deployment and its alias."""

    name: str  # the function's name (an ARN in the input is reduced to its name for display)
    function_arn: str  # unqualified
    old_version: str  # the alias's main version before the deployment: what a roll back returns to
    new_version: str | None = None  # set by Publish And Shift
    code_sha256: str | None = None  # the code CI built, when the input says: publishing refuses other code

    @property
    def pinned_from_latest(self) -> bool:
        """The alias pointed at $LATEST: there is no earlier version to split traffic with."""
        return self.old_version == LATEST

    @property
    def unchanged(self) -> bool:
        """Publishing gave back the version the alias already runs: the code did not change."""
        return self.new_version == self.old_version


@dataclass(frozen=True)
class Deployment:
    repository: str
    build_no: int
    alias: str
    weight: float
    pre_approve: bool
    build_url: str | None
    approval_timeout_seconds: int
    execution_arn: str
    functions: tuple[FunctionTarget, ...] = field(default_factory=tuple)
    on_timeout: str = "rollback"  # what a deployment nobody decided does at its deadline: rollback | promote
    function_count: int = -1  # how many functions it has, loaded or not (-1: count `functions`)

    def __post_init__(self) -> None:
        if self.function_count < 0:
            object.__setattr__(self, "function_count", len(self.functions))

    def to_state(self) -> dict[str, Any]:
        """The deployment without its functions (see canary_core.targets)."""
        state = asdict(self)
        del state["functions"]
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Deployment:
        """The deployment a state names, its functions not loaded yet (FunctionsTable.load)."""
        values = {k: state[k] for k in cls.__dataclass_fields__ if k != "functions" and k in state}
        return cls(**values)

    def with_functions(self, functions: list[FunctionTarget] | tuple[FunctionTarget, ...]) -> Deployment:
        return replace(self, functions=tuple(functions), function_count=len(functions))

    @property
    def title(self) -> str:
        return f"{self.repository} build {self.build_no}"
