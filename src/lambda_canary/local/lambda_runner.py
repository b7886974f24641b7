"""Run Lambda functions as Lambda does: each in execution environments of its own, kept warm and reaped.

moto without Docker does not run code; `moto_patches` points its invoke here. Each invocation runs in a
worker process (lambda_worker.py) of its function's version and configuration: its own environment
variables (the function's, plus the ones Lambda's runtime defines), its own module state and temporary
directory, its code unzipped from the deployed package, its layers and then only the packages Lambda's
Python runtime provides on its path, and credentials of its own, by which the emulator's IAM check knows
it (iam.py). A worker takes one invocation at a time; concurrent invocations get more workers, up to
`max_per_function` (beyond that an invocation waits for one, and is throttled as Lambda throttles when none
frees within QUEUE_SECONDS). Each invocation and throttle is recorded in the emulator's CloudWatch as Lambda
records it (metrics.py). Idle workers are stopped after `idle_seconds`; all of them on
`shutdown`. A handler's exception, a timeout or a crash becomes Lambda's error payload.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.awslambda.exceptions import LambdaClientError

from lambda_canary.local import iam, logs, metrics
from lambda_canary.local.lambda_worker import PLATFORM_MARK
from lambda_canary.local.layer import runtime_packages

WORKER_SCRIPT = Path(__file__).with_name("lambda_worker.py")
# Where a worker's AWS calls go when no emulator endpoint is configured: nowhere (never to AWS)
NO_ENDPOINT = "http://127.0.0.1:9"
INIT_SECONDS = 10.0  # Lambda's limit for a function's init (its module imports), apart from its timeout
# How long an invocation waits for a free environment when its function has max_per_function busy. AWS would
# run it at once: the limit is this machine's, so it waits rather than being throttled, up to a point.
QUEUE_SECONDS = 60.0


class TooManyRequests(LambdaClientError):
    """What Lambda answers when a function has no free concurrency."""

    code = 429

    def __init__(self, function_name: str) -> None:
        super().__init__("TooManyRequestsException", f"Rate Exceeded. ({function_name}: every environment busy)")
        self.description = json.dumps(
            {"Type": "User", "message": "Rate Exceeded.", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}
        )


class InvalidRequestContent(LambdaClientError):
    code = 400

    def __init__(self, detail: str) -> None:
        super().__init__("InvalidRequestContentException", f"Could not parse request body into json: {detail}")


@dataclass(frozen=True)
class _Kind:
    """What makes two execution environments interchangeable: the same version, code and configuration."""

    function_name: str
    function_arn: str
    version: str
    code_sha: str
    handler: str
    timeout: float
    memory: int
    region: str
    variables: tuple[tuple[str, str], ...]
    layers: tuple[str, ...]
    log_group: str


@dataclass(eq=False)  # each worker is itself: kept in sets by identity
class _Worker:
    kind: _Kind
    process: subprocess.Popen[bytes]
    answers: int  # the read end of the worker's response pipe
    tmp: Path
    log: logs.LogStream  # its execution environment's stream in the function's log group
    output: threading.Thread  # passes what it writes to the log stream (and the runtime's terminal)
    last_used: float = field(default_factory=time.monotonic)
    initialized: bool = False  # the handler's module is imported (Lambda's init ran)
    stopped: bool = False
    _buffer: bytes = b""
    _stopping: threading.Lock = field(default_factory=threading.Lock)

    def call(self, request: dict[str, Any], deadline: float) -> dict[str, Any] | str:
        """The worker's answer, or "timeout" / "exited" (the worker is then unusable)."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return "exited"
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            try:
                poller = select.poll()  # not select.select: descriptors above 1023 are common in a busy runtime
                poller.register(self.answers, select.POLLIN)
                ready = poller.poll(remaining * 1000)
                chunk = os.read(self.answers, 1 << 20) if ready else None
            except (OSError, ValueError):  # stopped meanwhile (the runtime shuts down)
                return "exited"
            if chunk == b"":
                return "exited"
            self._buffer += chunk or b""
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stop(self) -> None:
        with self._stopping:
            if self.stopped:
                return
            self.stopped = True
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            with contextlib.suppress(OSError):
                if self.process.stdin is not None:
                    self.process.stdin.close()
            os.close(self.answers)
            self.output.join(timeout=5)  # its last lines delivered, before any the runner adds
            shutil.rmtree(self.tmp, ignore_errors=True)


def _account_of(function_arn: str) -> str:
    return function_arn.split(":")[4]


def _pass_output(process: subprocess.Popen[bytes], log: logs.LogStream) -> None:
    """Every line a worker writes goes to its log stream, as Lambda sends it to CloudWatch Logs; the handler's
    own lines also show in the runtime's terminal (fd 1), as they did when the worker wrote there itself."""
    assert process.stdout is not None
    with process.stdout:
        for raw in iter(process.stdout.readline, b""):
            text = raw.decode("utf-8", errors="replace").rstrip("\n")
            # a handler's last write without a newline runs into the platform line that follows it
            own, marked, platform = text.partition(PLATFORM_MARK)
            if own or not marked:
                with contextlib.suppress(OSError):
                    os.write(1, (own + "\n").encode())
                _log_platform(log, own)
            if marked:
                _log_platform(log, platform)


def _log_platform(log: logs.LogStream, line: str) -> None:
    try:
        log.write(line)
    except Exception as error:  # noqa: BLE001 - the emulator's logs must never break an invocation
        print(f"lambda-canary: a log line of {log.group} was lost ({type(error).__name__}: {error})", file=sys.stderr)


class WorkerPool:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._idle: dict[_Kind, list[_Worker]] = {}
        self._busy: dict[str, int] = {}  # function name -> workers running an invocation or starting
        self._workers: set[_Worker] = set()
        self._layers: dict[str, tuple[Path, ...]] = {}
        self._root = Path(tempfile.mkdtemp(prefix="lambda-canary-workers-"))
        self._runtime_dir: Path | None = None
        self._reaper: threading.Thread | None = None
        self.configure()

    def configure(
        self,
        *,
        endpoint_url: str | None = None,
        variables: dict[str, str] | None = None,
        replacements: dict[str, str] | None = None,
        idle_seconds: float = 60.0,
        max_per_function: int = 8,
    ) -> None:
        """endpoint_url: the emulator every worker calls; variables: set on every function (what the local
        runtime stands in for: no X-Ray daemon, say); replacements: new values for variables a function's
        configuration already has (never added to a function that lacks them)."""
        with self._lock:
            self.endpoint_url = endpoint_url or NO_ENDPOINT
            self.variables = dict(variables or {})
            self.replacements = dict(replacements or {})
            self.idle_seconds = idle_seconds
            self.max_per_function = max_per_function

    def attach_layers(self, function_name: str, layers: list[Path]) -> None:
        """The layer directories (each with its python/) a function's configuration names, in order."""
        with self._lock:
            self._layers[function_name] = tuple(layers)

    def invoke(
        self, function: Any, payload: bytes | str | None, response_headers: dict[str, str], qualifier: str | None = None
    ) -> bytes:
        """Run `function` (a moto LambdaFunction) with `payload`; return the response payload as Lambda would.
        qualifier: the alias or version the caller named (None: unqualified), for the metrics (metrics.py)."""
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload or ""
        if text:
            try:
                json.loads(text)
            except ValueError as error:
                raise InvalidRequestContent(str(error)) from None
        kind = self._kind(function)
        request_id = str(uuid.uuid4())
        try:
            worker = self._acquire(kind, time.monotonic() + QUEUE_SECONDS, function)
        except TooManyRequests:
            metrics.throttled(function, qualifier)
            raise
        # The timeout counts from when the handler runs; a cold start's init has its own limit, as on Lambda.
        deadline = time.monotonic() + kind.timeout + (0 if worker.initialized else INIT_SECONDS)
        request = {
            "payload": text,
            "remaining_ms": int(kind.timeout * 1000),
            "context": {
                "function_name": kind.function_name,
                "function_version": kind.version,
                "invoked_function_arn": kind.function_arn,
                "memory_limit_in_mb": kind.memory,
                "aws_request_id": request_id,
                "log_group_name": worker.log.group,
                "log_stream_name": worker.log.name,
            },
        }
        started = time.monotonic()
        answer = worker.call(request, deadline)
        elapsed_ms = (time.monotonic() - started) * 1000
        if answer == "exited":
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(timeout=5)  # its exit status, for the error
        if isinstance(answer, dict) and not answer.get("init_failed"):
            worker.initialized = True
            self._release(worker)
        else:
            self._discard(worker)  # a timed-out, crashed or failed-to-start environment is not reused
        if answer == "timeout":
            elapsed_ms = kind.timeout * 1000
            _log_platform(worker.log, f"{request_id} Task timed out after {kind.timeout:.2f} seconds")
            _log_platform(worker.log, f"END RequestId: {request_id}")
            _log_platform(worker.log, f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\tStatus: timeout")
            failure = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {kind.timeout:.2f} seconds",
            }
        elif answer == "exited":
            code = worker.process.returncode
            failure = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}",
            }
        else:
            assert isinstance(answer, dict)
            elapsed_ms = float(answer.get("duration_ms", elapsed_ms))
            if "payload" in answer:
                metrics.invoked(function, qualifier, elapsed_ms, error=False)
                return str(answer["payload"]).encode()
            failure = answer["error"]
        metrics.invoked(function, qualifier, elapsed_ms, error=True)
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(failure).encode()

    def shutdown(self) -> None:
        """Stop every worker (the runtime stops)."""
        with self._lock:
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            self._busy.clear()
            self._lock.notify_all()
        for worker in workers:
            worker.stop()

    def close(self) -> None:
        """Stop every worker and remove the unzipped code (this process exits)."""
        self.shutdown()
        shutil.rmtree(self._root, ignore_errors=True)

    @property
    def running(self) -> list[tuple[str, int]]:
        """(function name, process id) of every live worker."""
        with self._lock:
            return [(w.kind.function_name, w.process.pid) for w in self._workers]

    def _kind(self, function: Any) -> _Kind:
        variables = {str(k): str(v) for k, v in (function.environment_vars or {}).items()}
        variables.update({k: v for k, v in self.replacements.items() if k in variables})
        with self._lock:
            layers = self._layers.get(function.function_name, ())
        return _Kind(
            function_name=function.function_name,
            function_arn=function.function_arn,
            version=str(getattr(function, "version", "$LATEST")),
            code_sha=function.code_sha_256,
            handler=function.handler,
            timeout=float(function.timeout),
            memory=int(function.memory_size),
            region=function.region,
            variables=tuple(sorted(variables.items())),
            layers=tuple(str(layer / "python") for layer in layers),
            log_group=(getattr(function, "logging_config", None) or {}).get("LogGroup")
            or logs.default_group(function.function_name),
        )

    def _acquire(self, kind: _Kind, deadline: float, function: Any) -> _Worker:
        with self._lock:
            while True:
                idle = self._idle.get(kind)
                if idle:
                    worker = idle.pop()
                    self._busy[kind.function_name] = self._busy.get(kind.function_name, 0) + 1
                    return worker
                if self._busy.get(kind.function_name, 0) < self.max_per_function:
                    self._busy[kind.function_name] = self._busy.get(kind.function_name, 0) + 1
                    break
                if not self._lock.wait(timeout=max(0.0, deadline - time.monotonic())):
                    raise TooManyRequests(kind.function_name)
        try:
            worker = self._start(kind, function)
        except BaseException:
            with self._lock:
                self._busy[kind.function_name] -= 1
                self._lock.notify_all()
            raise
        with self._lock:
            self._workers.add(worker)
        return worker

    def _release(self, worker: _Worker) -> None:
        worker.last_used = time.monotonic()
        with self._lock:
            self._busy[worker.kind.function_name] = max(0, self._busy.get(worker.kind.function_name, 0) - 1)
            kept = worker in self._workers  # not after a shutdown
            if kept:
                self._idle.setdefault(worker.kind, []).append(worker)
            self._lock.notify_all()
        if not kept:
            worker.stop()

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._busy[worker.kind.function_name] = max(0, self._busy.get(worker.kind.function_name, 0) - 1)
            self._workers.discard(worker)
            self._lock.notify_all()
        worker.stop()

    def _start(self, kind: _Kind, function: Any) -> _Worker:
        code_dir = self._code_dir(kind, function)
        tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=self._root))
        runtime_dir = self._runtime_packages()
        credentials = iam.credentials_of(kind.function_name)
        log = logs.LogStream(_account_of(kind.function_arn), kind.region, kind.log_group, kind.version)
        variables = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "TMPDIR": str(tmp),
            **dict(kind.variables),
            **self.variables,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            # What Lambda's runtime defines for every function
            "_HANDLER": kind.handler,
            "AWS_REGION": kind.region,
            "AWS_DEFAULT_REGION": kind.region,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_LAMBDA_FUNCTION_NAME": kind.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": kind.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(kind.memory),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": log.group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log.name,
            "LAMBDA_TASK_ROOT": str(code_dir),
            "LAMBDA_RUNTIME_DIR": str(runtime_dir),
            **credentials,
        }
        read_end, write_end = os.pipe()
        try:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, isolated, running our worker loop
                [
                    sys.executable,
                    "-I",  # no PYTHON* variables, no user site, no script directory on the path
                    "-S",  # no site-packages: the function sees its code, its layers and the runtime's packages
                    str(WORKER_SCRIPT),
                    str(write_end),
                    str(os.getpid()),  # the worker ends if this process is gone
                    str(code_dir),
                    kind.handler,
                    *kind.layers,
                    str(runtime_dir),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # out of the terminal's process group: Ctrl-C is for the runtime, which ends its execution
                # environments itself, not for a handler mid-request or a worker still starting
                start_new_session=True,
                env=variables,
                pass_fds=(write_end,),
                cwd=code_dir,
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        output = threading.Thread(target=_pass_output, args=(process, log), name=f"logs-{process.pid}", daemon=True)
        output.start()
        self._start_reaper()
        return _Worker(kind, process, read_end, tmp, log, output)

    def _code_dir(self, kind: _Kind, function: Any) -> Path:
        """The function's deployed package, unzipped once per code hash (Lambda's /var/task)."""
        code_dir = self._root / "code" / kind.code_sha.replace("/", "_").replace("+", "-")
        if not code_dir.exists():
            staging = Path(tempfile.mkdtemp(prefix=".unzipping-", dir=self._root))
            with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                archive.extractall(staging)
            code_dir.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(code_dir)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)  # another invocation unzipped it first
        return code_dir

    def _runtime_packages(self) -> Path:
        with self._lock:
            if self._runtime_dir is None:
                self._runtime_dir = runtime_packages(self._root / "runtime")
            return self._runtime_dir

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is None or not self._reaper.is_alive():
                self._reaper = threading.Thread(target=self._reap, name="lambda-worker-reaper", daemon=True)
                self._reaper.start()

    def _reap(self) -> None:
        while True:
            time.sleep(1.0)
            now = time.monotonic()
            with self._lock:
                expired = [
                    worker
                    for workers in self._idle.values()
                    for worker in workers
                    if now - worker.last_used > self.idle_seconds
                ]
                for worker in expired:
                    self._idle[worker.kind].remove(worker)
                    self._workers.discard(worker)
            for worker in expired:
                worker.stop()


pool = WorkerPool()
atexit.register(pool.close)


def invoke(
    function: Any, payload: bytes | str | None, response_headers: dict[str, str], qualifier: str | None = None
) -> bytes:
    """Run `function` (a moto LambdaFunction) in an execution environment of its own (see WorkerPool)."""
    return pool.invoke(function, payload, response_headers, qualifier)
