"""Errors that end a step of the workflow.

The class name is what Step Functions sees as the error name (a Lambda's `errorType`), so the state machine
catches them by these exact names.
"""

from typing import Any

from canary_core.limits import listing


class InvalidInput(Exception):
    """The execution input, or a function or alias it names, cannot be used. Nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(listing((p[:500] for p in problems), what="more problem(s) of the same kinds"))


class AliasUpdateFailed(Exception):
    """One or more aliases could not be changed; the message names each function and why."""

    def __init__(self, operation: str, failures: dict[str, str]) -> None:
        self.failures = failures
        listed = listing(f"{name}: {reason[:500]}" for name, reason in sorted(failures.items()))
        super().__init__(f"{operation} failed for {len(failures)} function(s): {listed}")


class FunctionNotReady(Exception):
    """A function's last update failed, or a new version did not become Active in time: nothing is shifted to it."""


class ExecutionEnded(Exception):
    """The execution a task runs for has ended (stopped from the console, say): the task moves no more aliases."""


class AliasChangedOutside(Exception):
    """An alias is in a state this deployment never set: someone changed it. It is left as they set it."""


class LinkRejected(Exception):
    """An approval link was tampered with, expired or is unknown. The message says why in plain words."""

    def __init__(self, message: str, status: int = 403, link: Any = None) -> None:
        self.status = status
        self.link = link  # the DecisionLink, when it is authentic and only its expiry failed
        super().__init__(message)


class AlarmMissing(Exception):
    """An alarm the deployment watches no longer exists (deleted while it ran): it watches nothing."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        listed = listing(repr(name) for name in names)
        super().__init__(f"alarm(s) watched by the deployment no longer exist: {listed}")


class BeforeTrafficHookFailed(Exception):
    """The before-traffic hook failed: the deployment ends with no alias moved."""


class AfterPromoteHookFailed(Exception):
    """The after-promote hook failed: the state machine rolls the promotion back."""
