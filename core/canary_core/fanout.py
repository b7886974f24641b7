"""Run one call per function with bounded concurrency.

Lambda's control plane allows about 15 requests per second per API, so a fleet is handled by a small pool
of workers; botocore's standard retry mode retries throttles and service errors with jittered back-off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from botocore.config import Config

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 10
# Transient errors (TooManyRequestsException, ServiceException, connection errors) are retried here, with
# exponential back-off and full jitter; anything else surfaces at once.
LAMBDA_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 10},
    max_pool_connections=MAX_WORKERS + 2,
)

logger = logging.getLogger(__name__)


def fan_out(
    call: Callable[[T], R], items: Sequence[T], *, label: str = "", max_workers: int = MAX_WORKERS
) -> list[R | BaseException]:
    """Call `call(item)` for every item; return each result or the exception it raised, in item order.

    Every item is attempted even when others fail, so a roll back restores all the aliases it can.
    """
    if not items:
        return []
    done = 0
    results: list[R | BaseException] = []

    def guarded(item: T) -> R | BaseException:
        try:
            return call(item)
        except Exception as error:  # noqa: BLE001 - reported per item to the caller
            return error

    with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as pool:
        for result in pool.map(guarded, items):
            results.append(result)
            done += 1
            if label and (done % 25 == 0 or done == len(items)):
                logger.info("%s: %d/%d functions", label, done, len(items))
    return results
