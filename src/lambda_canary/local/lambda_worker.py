"""One Lambda execution environment: the loop a worker process runs (lambda_runner starts it).

Run as `python -I -S lambda_worker.py <response fd> <runtime pid> <code dir> <handler> <path>...`: no
site-packages and no project on the path, only what a Lambda function has (its code, its layers, then the
runtime's packages), so this file uses the standard library alone. The handler's module is imported at the
first invocation (Lambda's init); each request is one JSON line on stdin, each answer one JSON line on the
response pipe.
The handler's own output (its logs) goes to stdout and stderr, as it goes to CloudWatch on AWS; so do the
lines Lambda itself writes around each invocation (START, END, REPORT, an unhandled error), marked with
PLATFORM_MARK so that the runner delivers them to the log stream without echoing them to its terminal.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import resource
import sys
import threading
import time
import traceback
from typing import Any

PLATFORM_MARK = "\x1flambda-platform\x1f"


def _platform(line: str) -> None:
    sys.stdout.write(f"{PLATFORM_MARK}{line}\n")


class LambdaContext:
    """The attributes of the context object Lambda passes to a Python handler."""

    def __init__(self, fields: dict[str, Any], remaining_ms: int) -> None:
        self.function_name: str = fields["function_name"]
        self.function_version: str = fields["function_version"]
        self.invoked_function_arn: str = fields["invoked_function_arn"]
        self.memory_limit_in_mb: int = int(fields["memory_limit_in_mb"])
        self.aws_request_id: str = fields["aws_request_id"]
        self.log_group_name: str = fields["log_group_name"]
        self.log_stream_name: str = fields["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(error_type: str, error: BaseException | str, trace: list[str] | None = None) -> dict[str, Any]:
    return {"errorMessage": str(error), "errorType": error_type, "stackTrace": trace or []}


def _load(handler: str) -> Any:
    module_name, _, attribute = handler.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise _InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}") from error
    except SyntaxError as error:
        raise _InitError("Runtime.UserCodeSyntaxError", str(error)) from error
    except Exception as error:  # an exception at import: reported with its own type, as Lambda does
        raise _InitError(type(error).__name__, str(error), traceback.format_tb(error.__traceback__)) from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise _InitError(
            "Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'"
        ) from None


class _InitError(Exception):
    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type, self.trace = error_type, trace


def _report(request_id: str, context: dict[str, Any], duration_ms: float, init_ms: float | None) -> None:
    """Lambda's END and REPORT lines of one invocation."""
    used_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # kilobytes on Linux
    _platform(f"END RequestId: {request_id}")
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {math.ceil(duration_ms)} ms"
        f"\tMemory Size: {context['memory_limit_in_mb']} MB\tMax Memory Used: {used_mb} MB"
    )
    _platform(report + (f"\tInit Duration: {init_ms:.2f} ms" if init_ms is not None else ""))


def _exit_when_orphaned(runtime_pid: int) -> None:
    """An execution environment never outlives the runtime that started it: when that process is gone (killed,
    or ended without stopping its workers), this one is re-parented, and ends even in the middle of a handler."""
    while os.getppid() == runtime_pid:
        time.sleep(1)
    os._exit(1)


def main(argv: list[str]) -> int:
    response_fd, runtime_pid, code_dir, handler_name, *paths = argv
    threading.Thread(target=_exit_when_orphaned, args=(int(runtime_pid),), daemon=True).start()
    # Lambda delivers each line as it is written: what a handler prints and Lambda's own lines keep their order
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.path[:0] = [code_dir, *paths]
    os.chdir(code_dir)
    answers = os.fdopen(int(response_fd), "w", encoding="utf-8")
    handler: Any = None
    for line in sys.stdin:
        request = json.loads(line)
        request_id, context = request["context"]["aws_request_id"], request["context"]
        _platform(f"START RequestId: {request_id} Version: {context['function_version']}")
        answer: dict[str, Any]
        started = init_ms = None
        try:
            if handler is None:
                loading = time.monotonic()
                handler = _load(handler_name)
                init_ms = (time.monotonic() - loading) * 1000
            event = json.loads(request["payload"]) if request["payload"] else {}
            started = time.monotonic()  # Lambda's Duration: the handler's run, not the init before it
            result = handler(event, LambdaContext(request["context"], int(request["remaining_ms"])))
            try:
                answer = {"payload": json.dumps(result)}
            except (TypeError, ValueError) as error:
                answer = {"error": _error("Runtime.MarshalError", f"Unable to marshal response: {error}")}
        except _InitError as error:
            answer = {"error": _error(error.error_type, error, error.trace), "init_failed": True}
        except Exception as error:  # noqa: BLE001 - reported as Lambda reports an unhandled error
            answer = {"error": _error(type(error).__name__, error, traceback.format_tb(error.__traceback__))}
        if "error" in answer:  # the runtime logs what it answers with
            _platform(f"[ERROR] {answer['error']['errorType']}: {answer['error']['errorMessage']}")
        if started is not None:
            answer["duration_ms"] = (time.monotonic() - started) * 1000
        _report(request_id, context, answer.get("duration_ms", 0.0), init_ms)
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
