"""canary_core.executions: whether a deployment's execution still runs, asked of Step Functions."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from canary_core.executions import execution_running, still_running_check

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:canary:my-app-760"


class ThrottledStepFunctions:
    """DescribeExecution answering with the throttling error Step Functions returns."""

    def describe_execution(self, *, executionArn: str) -> dict:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "DescribeExecution")


@pytest.mark.parametrize(
    ("status", "running"), [("RUNNING", True), ("SUCCEEDED", False), ("ABORTED", False), (None, False)]
)
def test_an_execution_runs_until_it_ends_or_is_gone(make_sfn, status, running):
    # given an execution in `status` (None: Step Functions no longer knows it)
    # when asked, then only RUNNING is running
    assert execution_running(make_sfn(execution_status=status), EXECUTION) is running


def test_a_status_that_cannot_be_read_is_unknown_not_ended():
    # given Step Functions throttling DescribeExecution
    # when asked, then the answer is "unknown", which no caller may take for "ended"
    assert execution_running(ThrottledStepFunctions(), EXECUTION) is None
    assert execution_running(ThrottledStepFunctions(), None) is False  # no execution at all


def test_the_check_asks_at_most_once_a_second_and_stops_only_for_an_ended_execution(make_sfn):
    # given a running execution and a check on it, with a clock the test moves
    now = [100.0]
    sfn = make_sfn(execution_status="RUNNING")
    check = still_running_check(sfn, EXECUTION, every=1.0, clock=lambda: now[0])

    # when it is called five times at once, then the execution is stopped and half a second, then a second pass
    at_once = [check() for _ in range(5)]
    sfn.execution_status = "ABORTED"
    now[0] += 0.5
    cached = check()
    now[0] += 0.5
    fresh = check()

    # then Step Functions was asked twice: the first answer held for a second, the second saw the stop
    assert (at_once, cached, fresh) == ([True] * 5, True, False)
    assert sfn.described == [EXECUTION, EXECUTION]


def test_the_check_goes_on_when_the_status_is_unknown():
    # given Step Functions throttling DescribeExecution
    # when checked, then the aliases go on moving: only an execution known to have ended stops them
    assert still_running_check(ThrottledStepFunctions(), EXECUTION)() is True
