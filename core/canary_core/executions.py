"""Whether a deployment's execution still runs, asked of Step Functions."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)


def execution_running(sfn_client: Any, execution_arn: str | None) -> bool | None:
    """Whether the execution still runs; None when its status cannot be read (a throttle, a denied call)."""
    if not execution_arn:
        return False
    try:
        return bool(sfn_client.describe_execution(executionArn=execution_arn)["status"] == "RUNNING")
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return False
        logger.warning("status of %s unknown: %s", execution_arn, error)
        return None
    except Exception as error:  # noqa: BLE001 - unknown, and said so: each caller decides what that means
        logger.warning("status of %s unknown: %s", execution_arn, error)
        return None


def still_running_check(
    sfn_client: Any, execution_arn: str | None, every: float = 1.0, clock: Callable[[], float] = time.monotonic
) -> Callable[[], bool]:
    """A check, safe to call from many threads, that asks Step Functions at most once per `every` seconds.
    Only an execution known to have ended is reported as not running."""
    lock = threading.Lock()
    last: dict[str, float | bool] = {"at": float("-inf"), "running": True}

    def check() -> bool:
        with lock:
            if clock() - float(last["at"]) >= every:
                last["running"] = execution_running(sfn_client, execution_arn) is not False
                last["at"] = clock()
            return bool(last["running"])

    return check
