"""How `canary start --wait` turns a deployment's ending (its item in the deployments table) into an exit code."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from canary_core.outcome import FAILED_ERROR, ROLLBACK_FAILED_ERROR, ROLLED_BACK_ERROR
from lambda_canary.cli.deploy import _ending


@pytest.mark.parametrize(
    ("status", "error", "decided_by", "code"),
    [
        ("PROMOTED", None, "arn:aws:sts::123456789012:assumed-role/dev/ana", 0),
        ("PROMOTED", None, "pre-approval", 0),
        ("ROLLED_BACK", ROLLED_BACK_ERROR, "arn:aws:sts::123456789012:assumed-role/dev/ana", 3),
        ("ROLLED_BACK", ROLLED_BACK_ERROR, "alarm orders-errors", 3),
        ("ROLLED_BACK", ROLLED_BACK_ERROR, "canary analysis", 3),
        ("ROLLED_BACK", ROLLED_BACK_ERROR, "timeout", 4),
        ("ROLLED_BACK", FAILED_ERROR, None, 5),
        ("FAILED", ROLLBACK_FAILED_ERROR, None, 5),
    ],
)
def test_each_ending_has_its_exit_code_and_prints_who_and_why(status, error, decided_by, code):
    # given a deployment's item at its end
    item = {
        "status": status,
        "decision": {"decided_by": decided_by} if decided_by else {},
        "outcome": {"status": status, "cause": "the cause [as recorded]", **({"error": error} if error else {})},
    }
    printed = io.StringIO()

    # when --wait reads it
    exit_code = _ending(item, Console(file=printed, width=200))

    # then the exit code tells how it ended, and the status, who decided and the cause are printed as text
    assert exit_code == code
    assert printed.getvalue().startswith(status)
    assert "the cause [as recorded]" in printed.getvalue()
