"""Run a Lambda function's real handler in this process, from the zip it was deployed with.

moto without Docker does not run code; `moto_patches` points its invoke here. The handler is loaded from
the deployed code (never imported from the project tree), the function's environment variables are
applied, and it is called with a Lambda-like context. An exception becomes Lambda's error payload.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

from lambda_canary.local import iam

_lock = threading.RLock()
_modules: dict[tuple[str, str], ModuleType] = {}
_code_root = Path(tempfile.mkdtemp(prefix="lambda-canary-code-"))
# Set by the local runtime: variables that override what the template gives (endpoint, log level).
ENVIRONMENT_OVERRIDES: dict[str, str] = {}


class LambdaContext:
    """The attributes of the context object Lambda passes to a Python handler."""

    def __init__(self, function: Any) -> None:
        self.function_name = function.function_name
        self.function_version = getattr(function, "version", "$LATEST")
        self.invoked_function_arn = function.function_arn
        self.memory_limit_in_mb = int(function.memory_size)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self._deadline = time.monotonic() + float(function.timeout)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def invoke(function: Any, payload: bytes | str | None, response_headers: dict[str, str]) -> bytes:
    """Run `function` (a moto LambdaFunction) with `payload`; return the response payload as Lambda would."""
    event = json.loads(payload) if payload else {}
    running = iam.running_function.set(function.function_name)  # whose policies its AWS calls are held to
    try:
        handler = _load_handler(function)
        result = handler(event, LambdaContext(function))
    except Exception as error:  # noqa: BLE001 - reported as Lambda reports an unhandled error
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(
            {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
        ).encode()
    finally:
        iam.running_function.reset(running)
    return json.dumps(result).encode()


def _load_handler(function: Any) -> Any:
    module_path, _, attribute = function.handler.rpartition(".")
    key = (function.code_sha_256, module_path)
    with _lock:
        # One process for every function: variables are applied before each call. The stack's functions
        # share their variables (template Globals), so concurrent invocations see the same values.
        os.environ.update({**function.environment_vars, **ENVIRONMENT_OVERRIDES})
        module = _modules.get(key)
        if module is None:
            module = _import_from_zip(function, module_path)
            _modules[key] = module
    return getattr(module, attribute)


def _import_from_zip(function: Any, module_path: str) -> ModuleType:
    code_dir = _code_root / function.code_sha_256.replace("/", "_").replace("+", "-")
    if not code_dir.exists():
        with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
            archive.extractall(code_dir)
    source = code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
    if not source.exists():
        raise ImportError(f"Unable to import module '{module_path}': no {source.name} in the deployed code")
    name = f"lambda_{function.function_name}_{module_path}".replace("-", "_").replace(".", "_")
    spec = importlib.util.spec_from_file_location(name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"Unable to import module '{module_path}'")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(code_dir))  # the handler's own modules beside it, as on Lambda
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(code_dir))
    return module
