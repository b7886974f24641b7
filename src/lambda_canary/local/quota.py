"""Lambda's control-plane request quota, simulated: a token bucket per API, and a per-call latency.

AWS allows about 15 requests per second per control-plane API (UpdateAlias, PublishVersion, GetAlias, ...)
and answers above that with TooManyRequestsException (HTTP 429, Reason CallerRateLimitExceeded). The local
runtime applies the same limit when asked to (`LocalRuntime(api_rate=15)`, `canary local --api-rate 15`),
so that speed at scale can be measured here. Off by default.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from moto.awslambda.exceptions import LambdaClientError


class TooManyRequests(LambdaClientError):
    """The error AWS returns when a control-plane API's rate is exceeded."""

    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate exceeded")
        self.description = (
            '{"Type": "User", "message": "Rate exceeded", "Reason": "CallerRateLimitExceeded", '
            '"retryAfterSeconds": "1"}'
        )


@dataclass
class _Bucket:
    rate: float
    tokens: float
    updated: float = field(default_factory=time.monotonic)

    def take(self, now: float) -> bool:
        self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class ControlPlaneQuota:
    """rate: requests per second per API (None: unlimited); latency: seconds each call takes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.configure(rate=None, latency=0.0)

    def reset_counters(self) -> None:
        with self._lock:
            self.calls.clear()
            self.throttled.clear()
            self.last_admitted.clear()

    def configure(self, *, rate: float | None, latency: float) -> None:
        with self._lock:
            self.rate = rate
            self.latency = latency
            self._buckets: dict[str, _Bucket] = {}
            self.calls: Counter[str] = Counter()
            self.throttled: Counter[str] = Counter()
            self.last_admitted: dict[str, float] = {}  # time.monotonic() of each API's latest admitted call

    def admit(self, api: str) -> None:
        """Wait the call's latency, then let it through or raise TooManyRequests."""
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            self.calls[api] += 1
            now = time.monotonic()
            if self.rate is not None:
                capacity = max(1.0, self.rate)  # a burst of one second's worth, and never less than one call
                bucket = self._buckets.setdefault(api, _Bucket(rate=self.rate, tokens=capacity, updated=now))
                if not bucket.take(now):
                    self.throttled[api] += 1
                    raise TooManyRequests()
            self.last_admitted[api] = now


quota = ControlPlaneQuota()
