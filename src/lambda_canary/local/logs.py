"""Functions' log lines on the local runtime, delivered to the emulator's CloudWatch Logs as Lambda delivers them.

Lambda sends what a function writes to stdout and stderr, line by line, to its log group (the function's
LoggingConfig.LogGroup, by default `/aws/lambda/<name>`, which Lambda creates when it is missing), one log
stream per execution environment named `YYYY/MM/DD/[<version>]<32 hex digits>`, and frames each invocation
with its own START, END and REPORT lines. moto runs no code, so nothing of this reaches its CloudWatch Logs:
lambda_runner reads each worker's output and hands it here.

Lines go straight into moto's Logs backend of the function's account and region, stamped now: no request.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

from moto.logs.models import LogGroup, logs_backends
from moto.logs.models import LogStream as MotoLogStream

# PutLogEvents' limit for one event ("no larger than 256 KB", with 26 bytes of overhead each). How Lambda cuts a
# longer line is not documented: here it becomes several events, in order, so that nothing is lost.
MAX_EVENT_BYTES = 256 * 1024 - 26
_lock = threading.Lock()  # moto numbers events with a class counter that is not thread-safe


def default_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def stream_name(version: str, now: datetime | None = None) -> str:
    """A new execution environment's log stream, named as Lambda names it."""
    day = (now or datetime.now(UTC)).strftime("%Y/%m/%d")
    return f"{day}/[{version}]{uuid.uuid4().hex}"


class LogStream:
    """One execution environment's log stream in its function's log group (created when missing)."""

    def __init__(self, account_id: str, region: str, group: str, version: str) -> None:
        self.group, self.name = group, stream_name(version)
        self._backend = logs_backends[account_id][region]
        # The emulator's own requests (FilterLogEvents, DescribeLogStreams) iterate these dicts in their threads
        # without a lock: a new group or stream goes into a copy that replaces the dict whole, so that no
        # iteration ever sees one change size under it.
        with _lock:
            backend = self._backend
            if group not in backend.groups:  # Lambda creates its function's group when it is missing
                backend.groups = {**backend.groups, group: LogGroup(account_id, region, group)}  # type: ignore[abstract]
            log_group = backend.groups[group]
            log_group.streams = {**log_group.streams, self.name: MotoLogStream(log_group=log_group, name=self.name)}

    def write(self, message: str) -> None:
        """One line, as one event; a line past MAX_EVENT_BYTES as several, cut between characters."""
        stamp = int(time.time() * 1000)
        events = [{"timestamp": stamp, "message": part} for part in _parts(message)]
        with _lock:
            self._backend.put_log_events(self.group, self.name, events)


def _parts(message: str) -> list[str]:
    data = message.encode("utf-8", errors="replace")
    parts = []
    while len(data) > MAX_EVENT_BYTES:
        cut = MAX_EVENT_BYTES
        while data[cut] & 0xC0 == 0x80:  # inside a character: cut before it
            cut -= 1
        parts.append(data[:cut].decode("utf-8"))
        data = data[cut:]
    return [*parts, data.decode("utf-8")]
