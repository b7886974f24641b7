"""Traffic for a canary: invoke the aliases of some functions at a steady rate, in the background, until stopped.

    with Traffic(boto3.client("lambda"), ["orders-api", "payments"], rate=20) as traffic:
        ...  # the canary runs; its versions get invoked and Lambda's metrics fill up
    print(traffic.sent, traffic.failed, traffic.executed)

`rate` is requests per second in total, spread over the functions in turn. A background thread paces the
requests and hands each to a small pool of threads; when every one of them is busy it waits for one (the rate
achieved is then lower, never a growing queue). It counts every invocation sent, those that failed (a
function error, or a refusal such as a throttle) and which version ran each (ExecutedVersion).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

STOP_TIMEOUT_SECONDS = 120.0  # the longest stop() waits for invocations under way


class Traffic:
    def __init__(
        self,
        lambda_client: Any,
        functions: Sequence[str],
        *,
        alias: str = "live",
        rate: float = 10.0,
        workers: int = 4,
        payload: bytes = b"{}",
    ) -> None:
        if not functions or not all(isinstance(name, str) and name for name in functions):
            raise ValueError(f"functions must name at least one function, got {list(functions)!r}")
        if not rate > 0:
            raise ValueError(f"rate must be above 0 (requests per second, in total), got {rate!r}")
        if not 1 <= workers <= 64:
            raise ValueError(f"workers must be between 1 and 64 (invocations under way at once), got {workers!r}")
        self._lambda = lambda_client
        self.functions = tuple(functions)
        self.alias = alias
        self.rate = float(rate)
        self.workers = workers
        self.payload = payload
        self._lock = threading.Lock()
        self.sent = 0  # invocations answered or refused
        self.failed = 0  # of which: a function error, or a refusal (throttle, service error)
        self.executed: Counter[tuple[str, str]] = Counter()  # (function, version that ran) -> invocations
        self.failures: Counter[str] = Counter()  # "Unhandled", "TooManyRequestsException", ... -> how many
        self._stop = threading.Event()
        self._slots = threading.Semaphore(workers)
        self._thread: threading.Thread | None = None

    def start(self) -> Traffic:
        if self._thread is not None:
            raise RuntimeError("this traffic has already started: make another Traffic")
        self._thread = threading.Thread(target=self._run, name="canary-traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Send no more, and wait for the invocations under way (at most `timeout` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"invocations still under way after {timeout:.0f} s")

    def __enter__(self) -> Traffic:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="canary-traffic") as pool:
            number = 0
            while not self._stop.is_set():
                due = started + number / self.rate
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    break
                while not self._slots.acquire(timeout=0.1):  # every worker busy: wait, and still hear stop
                    if self._stop.is_set():
                        return
                pool.submit(self._invoke, self.functions[number % len(self.functions)])
                number += 1

    def _invoke(self, function: str) -> None:
        version, failure = "", None
        try:
            response = self._lambda.invoke(FunctionName=function, Qualifier=self.alias, Payload=self.payload)
            response["Payload"].read()
            version = str(response.get("ExecutedVersion", ""))
            failure = response.get("FunctionError")
        except ClientError as error:
            failure = str(error.response.get("Error", {}).get("Code") or "ClientError")
        except BotoCoreError as error:
            failure = type(error).__name__
        finally:
            self._slots.release()
        with self._lock:
            self.sent += 1
            if version:
                self.executed[(function, version)] += 1
            if failure:
                self.failed += 1
                self.failures[failure] += 1

    @property
    def running(self) -> bool:
        """Whether it may still send (started, and its thread not yet done)."""
        return self._thread is not None and self._thread.is_alive()

    def counts(self) -> tuple[int, int]:
        """(sent, failed) so far, read together."""
        with self._lock:
            return self.sent, self.failed
