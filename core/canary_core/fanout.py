"""Run one call per function with bounded concurrency, paced at Lambda's control-plane quota.

Lambda's control plane allows about 15 requests per second per API and throttles above that, so the floor
for N functions is N/15 seconds. A small pool of workers (calls take tens of milliseconds each) is paced
to the quota, which reaches that floor without being throttled; throttles that still happen (another
deployment, another tool in the account) and service errors are retried by botocore's standard retry
mode with jittered exponential back-off.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
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

# Requests per second per API; 0 means unpaced. Set by template.yaml (LAMBDA_API_RATE_PER_SECOND).
DEFAULT_RATE = 15.0

logger = logging.getLogger(__name__)


class Pacer:
    """Spaces calls evenly at `rate` per second across threads (0: no pacing)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


# GetFunction has a quota of its own, 100 requests/s; half of it leaves room for other readers (CI's waiters).
GET_FUNCTION_RATE = 50.0


def api_rate() -> float:
    return float(os.environ.get("LAMBDA_API_RATE_PER_SECOND", DEFAULT_RATE))


def get_function_rate() -> float:
    """Requests per second for GetFunction: unpaced when the control plane is (the local runtime)."""
    return GET_FUNCTION_RATE if api_rate() > 0 else 0.0


def fan_out(
    call: Callable[[T], R],
    items: Sequence[T],
    *,
    label: str = "",
    max_workers: int = MAX_WORKERS,
    rate: float | None = None,
) -> list[R | BaseException]:
    """Call `call(item)` for every item; return each result or the exception it raised, in item order.

    Every item is attempted even when others fail, so a roll back restores all the aliases it can.
    Calls start at most `rate` per second (default: LAMBDA_API_RATE_PER_SECOND, else 15).
    """
    if not items:
        return []
    done = 0
    results: list[R | BaseException] = []

    pacer = Pacer(api_rate() if rate is None else rate)

    def guarded(item: T) -> R | BaseException:
        pacer.wait()
        try:
            return call(item)
        except Exception as error:  # noqa: BLE001 - reported per item to the caller
            return error

    # Each call runs in a copy of the caller's context, so context variables the caller set (a logger's keys,
    # the caller's identity on the local runtime) hold in the worker threads too.
    contexts = [copy_context() for _ in items]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as pool:
        for result in pool.map(lambda context, item: context.run(guarded, item), contexts, items):
            results.append(result)
            done += 1
            if label and (done % 25 == 0 or done == len(items)):
                logger.info("%s: %d/%d functions", label, done, len(items))
    return results
