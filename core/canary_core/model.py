"""The deployment and the workflow's state: typed records, plain data, JSON in and out.

The workflow's state has one key per task that writes it (each task's ResultPath in the state machine):
`deployment` (Validate Input), `traffic` (Publish And Shift), `approval` (Request Approval, Check Canary,
Next Step), `decision` (Await Decision), `promotion` (Promote), `rollback` (Roll Back), `outcome` (Record
Outcome), and `error` / `rollback_error` (a Catch). `WorkflowState` reads it.

The state carries the deployment without its functions (`to_state`): they live in the functions table
(canary_core.targets), so the state stays a few hundred bytes whatever their number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

LATEST = "$LATEST"
# A deployment's status in the deployments table
SHIFTING, WAITING, PROMOTED, ROLLED_BACK, FAILED = "SHIFTING", "WAITING", "PROMOTED", "ROLLED_BACK", "FAILED"
REVERTED = "REVERTED"  # promoted, then aliases put back on their earlier versions (canary_core.revert)
# Who decided, when no person did
PRE_APPROVAL, TIMEOUT, ANALYSIS = "pre-approval", "timeout", "canary analysis"
ALARM_PREFIX = "alarm "  # decided_by of a roll back an alarm caused: "alarm <name>"
DECISION_ACTIONS = ("approve", "rollback", "promote")  # promote: skip the schedule's remaining steps
GATES = ("manual", "auto")  # manual: a click moves on; auto: the analysis does, once healthy after the bake
SUPERSEDED_BY = (
    "superseded by "  # who decided the roll back of a deployment a newer one took over ("... my-app build 761")
)
ANALYSIS_MODES = ("off", "advise", "rollback")  # each stricter than the one before it


@dataclass(frozen=True)
class Step:
    """One weight of a progressive schedule, and what lets the deployment move past it."""

    weight: float  # the new version's share of the alias's traffic during this step
    gate: str = "manual"  # see GATES
    bake_seconds: int = 0  # an auto gate waits at least this long before the analysis may move it on


def step_position(step: int, steps: int) -> str:
    """ "2 of 3": where step `step` (from 0) stands in a schedule of `steps`; empty for a single step."""
    return f"{step + 1} of {steps}" if steps > 1 else ""


@dataclass(frozen=True)
class Analysis:
    """How the new version is compared with the version it replaces while the deployment waits."""

    mode: str = "off"  # see ANALYSIS_MODES; rollback: an unhealthy verdict rolls back; advise: it only reports
    interval_seconds: int = 60  # how often the metrics are read (Lambda's metrics have a one-minute resolution)
    min_invocations: int = 100  # below this many new-version requests the verdict is "not enough traffic"
    confidence: float = 0.99  # of the one-sided test that the new version's error rate is higher
    max_p99_ratio: float = 1.5  # the new version's p99 duration may be at most this many times the old one's


@dataclass(frozen=True)
class Hooks:
    """Lambda functions invoked with the deployment: before any weight moves, and after promotion."""

    before_traffic: str | None = None
    after_promote: str | None = None


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
    analysis: Analysis = Analysis()  # the stack's analysis; its mode is the least an input may ask for
    alarms: tuple[str, ...] = ()  # CloudWatch alarms every deployment watches (an input may add more)
    hooks: Hooks = Hooks()  # the stack's hooks (an input may not replace them)


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
    steps: tuple[Step, ...] = ()  # the schedule; none given: one manual step at `weight`
    analysis: Analysis = Analysis()
    alarms: tuple[str, ...] = ()
    hooks: Hooks = Hooks()
    # changes data or schema: no partial traffic, a person approves, a revert needs force (validation.py)
    irreversible: bool = False

    def __post_init__(self) -> None:
        if self.function_count < 0:
            object.__setattr__(self, "function_count", len(self.functions))
        if not self.steps:
            object.__setattr__(self, "steps", (Step(self.weight),))

    def to_state(self) -> dict[str, Any]:
        """The deployment without its functions (see canary_core.targets)."""
        state = asdict(self)
        del state["functions"]
        state["steps"], state["alarms"] = list(state["steps"]), list(state["alarms"])  # as JSON gives them back
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Deployment:
        """The deployment a state names, its functions not loaded yet (FunctionsTable.load)."""
        values = {k: state[k] for k in cls.__dataclass_fields__ if k != "functions" and k in state}
        values["steps"] = tuple(Step(**step) for step in state.get("steps", ()))
        values["analysis"] = Analysis(**state.get("analysis", {}))
        values["alarms"] = tuple(state.get("alarms", ()))
        values["hooks"] = Hooks(**state.get("hooks", {}))
        return cls(**values)

    def with_functions(self, functions: list[FunctionTarget] | tuple[FunctionTarget, ...]) -> Deployment:
        return replace(self, functions=tuple(functions), function_count=len(functions))

    @property
    def title(self) -> str:
        return f"{self.repository} build {self.build_no}"


@dataclass(frozen=True)
class Decision:
    """A decision on the current step: who took it, when, and (for the workflow's own) why."""

    action: str  # see DECISION_ACTIONS
    decided_by: str
    decided_at: str
    source_ip: str | None = None
    user_agent: str | None = None
    user_id: str | None = None  # the Slack user who pressed the button
    reason: str | None = None  # the figures or the alarm behind a decision the workflow took itself
    step: int = 0  # the schedule's step it decides (left out of the item for the first)

    def as_item(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and (k, v) != ("step", 0)}


@dataclass(frozen=True)
class ApprovalPlan:
    """What the wait for a decision on the current step reads (`$.approval`): how long to wait next, and
    when the reminders, the checks of the canary and the deadline fall (seconds since the epoch)."""

    step: int  # the current step (an index into Deployment.steps)
    last_step: bool  # approving it promotes
    step_started_at: int  # when its weight was set: the analysis window and the bake start here
    deadline: int
    reminders: tuple[int, ...]
    on_timeout: str
    next_wait_seconds: int
    next_check_at: int | None = None  # the next reading of alarms and metrics (none: nothing to watch)
    verdict: str | None = None  # the latest analysis verdict on this step

    def as_state(self) -> dict[str, Any]:
        state = asdict(self)
        state["reminders"] = list(self.reminders)
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ApprovalPlan:
        values = {k: state[k] for k in cls.__dataclass_fields__ if k in state}
        values["reminders"] = tuple(state.get("reminders", ()))
        return cls(**values)


@dataclass(frozen=True)
class WorkflowState:
    """The state machine's state as a task receives it (see the module's docstring)."""

    deployment: Deployment
    approval: ApprovalPlan | None = None
    decision: dict[str, Any] | None = None
    promotion: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # {Error, Cause} of the step that failed
    rollback_error: dict[str, Any] | None = None

    def loaded(self, deployment: Deployment) -> WorkflowState:
        """The same state with the deployment's functions loaded (FunctionsTable.load)."""
        return replace(self, deployment=deployment)

    @classmethod
    def of(cls, state: dict[str, Any]) -> WorkflowState:
        approval = state.get("approval")
        return cls(
            deployment=Deployment.from_state(state["deployment"]),
            approval=ApprovalPlan.from_state(approval) if approval else None,
            decision=state.get("decision"),
            promotion=state.get("promotion"),
            rollback=state.get("rollback"),
            error=state.get("error"),
            rollback_error=state.get("rollback_error"),
        )
