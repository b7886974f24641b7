"""AWS's size limits, as they bound what the workflow writes: causes, lists of functions in a state.

Step Functions keeps 32,768 characters of an error's cause, and a state of 256 KB; a deployment may have
1,000 functions. Anything that names functions one by one names the first few and counts the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_CAUSE_CHARACTERS = 32_768  # an execution's or a task's error cause (ExecutionFailedEventDetails.cause)
LISTED = 20  # functions named one by one in a cause, a message or the state; the rest are counted


def listing(parts: Iterable[str], separator: str = "; ", most: int = LISTED, what: str = "more") -> str:
    """`parts` joined, the first `most` of them, then "and N more" for the rest."""
    parts = list(parts)
    shown = separator.join(parts[:most])
    left_out = len(parts) - most
    return shown + (f"{separator}and {left_out} {what}" if left_out > 0 else "")


def capped_cause(cause: str) -> str:
    """A cause Step Functions keeps whole: cut at its limit, saying how much was left out."""
    if len(cause) <= MAX_CAUSE_CHARACTERS:
        return cause
    note = " ... ({} characters left out)"
    keep = MAX_CAUSE_CHARACTERS - len(note.format(len(cause)))
    return cause[:keep] + note.format(len(cause) - keep)


def first(mapping: dict[str, str], most: int = LISTED) -> dict[str, str]:
    """The first `most` entries of `mapping` by key (the state carries these; the count goes beside them)."""
    return dict(sorted(mapping.items())[:most])
