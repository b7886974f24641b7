"""Every change this project makes to the AWS emulator (moto), in one place.

Each patch covers a gap between moto and AWS that the workflow depends on, and each has a test in
tests/unit/test_moto_gaps.py that shows the gap on unpatched moto, so a moto upgrade tells which patches
are still needed. moto is pinned exactly (pyproject.toml) because these reach into its internals.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import parse_qs, unquote

from moto.awslambda.exceptions import PreconditionFailedException
from moto.awslambda.models import LambdaAlias, LambdaBackend
from moto.awslambda.responses import LambdaResponse
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.responses import BaseResponse
from moto.dynamodb.models import DynamoDBBackend
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

from lambda_canary.local import faults, iam, lambda_runner
from lambda_canary.local.names import function_name_and_qualifier
from lambda_canary.local.quota import quota

logger = logging.getLogger(__name__)

_ORIGINALS: dict[tuple[type, str], Callable[..., Any]] = {
    (LambdaSimpleBackend, "invoke"): LambdaSimpleBackend.invoke,
    (LambdaResponse, "invoke"): LambdaResponse.invoke,
    (LambdaBackend, "update_alias"): LambdaBackend.update_alias,
    (LambdaBackend, "publish_version"): LambdaBackend.publish_version,
    (LambdaBackend, "get_alias"): LambdaBackend.get_alias,
    (LambdaAlias, "update"): LambdaAlias.update,
    (Environment, "set_stop"): Environment.set_stop,
    (Environment, "set_error"): Environment.set_error,
    (DynamoDBBackend, "put_item"): DynamoDBBackend.put_item,
    (DynamoDBBackend, "update_item"): DynamoDBBackend.update_item,
    (LambdaResponse, "update_alias"): LambdaResponse.update_alias,
    (BaseResponse, "_authenticate_and_authorize_normal_action"): BaseResponse._authenticate_and_authorize_normal_action,
}
_alias_locks: dict[tuple[str, str], threading.Lock] = {}
_alias_locks_guard = threading.Lock()


def _alias_lock(function_name: str, alias_name: str) -> threading.Lock:
    with _alias_locks_guard:
        return _alias_locks.setdefault((function_name_and_qualifier(function_name)[0], alias_name), threading.Lock())


# Draws the version each alias invocation runs; seed it for a repeatable split.
ROUTING_RANDOM = random.Random()


def _invoke_real_handler(
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes:
    """Gap 1: without Docker, moto's Lambda echoes the payload instead of running the code. Here it runs in
    an execution environment of the function's own (lambda_runner.py).

    Gap 5: moto runs an alias's main version whatever its weights, and never says which version ran; AWS
    sends each invocation to the alias's additional version with its weight, and returns the version that
    ran (X-Amz-Executed-Version, boto3's ExecutedVersion).

    Gap 7: moto runs an Event (asynchronous) invocation before it answers; AWS queues it and answers 202 at
    once, so the caller does not wait for the function.
    """
    name, qualifier = function_name_and_qualifier(function_name, qualifier)
    function = self.get_function(name, _routed_version(self, name, qualifier))
    response_headers["x-amz-executed-version"] = str(function.version)
    if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
        threading.Thread(target=_invoke_in_background, args=(function, body), daemon=True).start()
        return b""
    return lambda_runner.invoke(function, body, response_headers)


def _invoke_in_background(function: Any, body: Any) -> None:
    """An Event invocation: nobody waits for its answer, so an error is logged (AWS would retry it)."""
    headers: dict[str, str] = {}
    answer = lambda_runner.invoke(function, body, headers)
    if headers.get("x-amz-function-error"):
        logger.warning("Event invocation of %s failed: %s", function.function_name, answer.decode()[:2000])


def _routed_version(self: LambdaSimpleBackend, name: str, qualifier: str | None) -> str | None:
    """The version an invocation runs: an alias's additional version with its weight, else its main one."""
    if qualifier is None or qualifier == "$LATEST" or re.fullmatch(r"\d+", qualifier):
        return qualifier
    alias = self._lambdas.get_alias(qualifier, name)  # the store itself: no GetAlias request is counted
    routing = cast(dict[str, Any], alias.routing_config or {})  # annotated str by moto: the request's object
    weights = routing.get("AdditionalVersionWeights") or {}
    draw = ROUTING_RANDOM.random()
    for version, weight in weights.items():
        if draw < float(weight):
            return str(version)
        draw -= float(weight)
    return str(alias.function_version)


def _invoke_reads_qualifier(self: LambdaResponse) -> Any:
    """Gap 6: moto's Invoke reads a `qualifier` query parameter, but clients send `Qualifier`, so an alias
    or version passed that way runs $LATEST."""
    if "Qualifier" in self.querystring:
        self.querystring.setdefault("qualifier", self.querystring["Qualifier"])
    return _ORIGINALS[(LambdaResponse, "invoke")](self)


def _alias_update_renews_revision(self: LambdaAlias, *args: Any, **kwargs: Any) -> None:
    """Gap 2: moto keeps an alias's RevisionId when it changes; AWS gives every revision a new one."""
    _ORIGINALS[(LambdaAlias, "update")](self, *args, **kwargs)
    self.revision_id = str(uuid.uuid4())


def _update_alias_checks_revision(self: LambdaResponse) -> Any:
    """Gap 3: moto ignores UpdateAlias's RevisionId; AWS refuses the update when it is not the alias's latest."""
    revision_id = json.loads(self.body or "{}").get("RevisionId")
    function_name = unquote(self.path.rsplit("/")[-3])
    alias_name = unquote(self.path.rsplit("/", 2)[-1])
    with _alias_lock(function_name, alias_name):  # the check and the update as one step, as on AWS
        if revision_id:
            current = _ORIGINALS[(LambdaBackend, "get_alias")](self.backend, alias_name, function_name)
            if current.revision_id != revision_id:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetAlias API to retrieve the latest Revision Id"
                )
        return _ORIGINALS[(LambdaResponse, "update_alias")](self)


def _stop_interrupts_waits(self: Environment, *args: Any, **kwargs: Any) -> None:
    """Gap 4: StopExecution does not end a .waitForTaskToken wait in moto; on AWS the execution is aborted
    at once."""
    _ORIGINALS[(Environment, "set_stop")](self, *args, **kwargs)
    for endpoint in list(self.callback_pool_manager._pool.values()):
        endpoint.interrupt_all()


def _stopped_stays_stopped(self: Environment, *args: Any, **kwargs: Any) -> None:
    """Gap 4 (cont.): the interrupted wait then fails, and moto would turn ABORTED into FAILED."""
    if isinstance(self._program_state, ProgramStopped):
        return
    _ORIGINALS[(Environment, "set_error")](self, *args, **kwargs)


def _calls_checked_against_policies(self: BaseResponse, resource: str = "*") -> None:
    """Gap 8: moto answers any caller; on AWS a function's calls are limited by its execution role. Here the
    emulator checks each request against the policies of the function whose credentials signed it (iam.py:
    the template's Policies); other callers pass as before."""
    access_key = self.get_access_key()
    if iam.caller_of(access_key) is not None:
        # the service whose backend received the request, by its IAM prefix (not what the caller signed for)
        service = _IAM_PREFIXES.get(str(self.service_name), str(self.service_name))
        iam.check(access_key, service, self._get_action() or "UnknownOperation", _request_parameters(self))
    _ORIGINALS[(BaseResponse, "_authenticate_and_authorize_normal_action")](self, resource)


_IAM_PREFIXES = {"awslambda": "lambda", "stepfunctions": "states"}  # moto's service names that IAM spells otherwise


def _request_parameters(self: BaseResponse) -> dict[str, Any]:
    """The call's parameters by their API names: the path's labels, the query string and a JSON body."""
    parameters: dict[str, Any] = {}
    try:
        body = json.loads(self.raw_body or b"{}")
    except (ValueError, TypeError):
        body = None
    if isinstance(body, dict):
        parameters.update(body)
    parameters.update({k: v[0] if isinstance(v, list) and v else v for k, v in parse_qs(self.parsed_url.query).items()})
    parameters.update({k: unquote(str(v)) for k, v in (self.uri_match or {}).items()})
    return parameters


def _control_plane(api: str, original: Callable[..., Any], name_argument: int) -> Callable[..., Any]:
    """Not a gap: the simulated request quota (quota.py) and injected faults (faults.py) for one API."""

    def call(self: LambdaBackend, *args: Any, **kwargs: Any) -> Any:
        function_name = kwargs["function_name"] if "function_name" in kwargs else args[name_argument]
        quota.admit(api)
        faults.check(api, function_name)
        return original(self, *args, **kwargs)

    return call


def _table_writes(api: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """Not a gap: lets tests make a table refuse writes for a while, as DynamoDB can (see faults.py)."""

    def call(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Any:
        faults.check(api, table_name)
        return original(self, table_name, *args, **kwargs)

    return call


PATCHES = {
    "lambda invoke runs the deployed handler, on the version its alias routes to, in the background for Event": (
        LambdaSimpleBackend,
        "invoke",
        _invoke_real_handler,
    ),
    "Invoke reads the Qualifier parameter": (LambdaResponse, "invoke", _invoke_reads_qualifier),
    "a function's calls are limited to its template policies": (
        BaseResponse,
        "_authenticate_and_authorize_normal_action",
        _calls_checked_against_policies,
    ),
    "alias updates renew the RevisionId": (LambdaAlias, "update", _alias_update_renews_revision),
    "UpdateAlias checks the RevisionId": (LambdaResponse, "update_alias", _update_alias_checks_revision),
    "StopExecution ends a task-token wait": (Environment, "set_stop", _stop_interrupts_waits),
    "a stopped execution stays ABORTED": (Environment, "set_error", _stopped_stays_stopped),
    "control plane: UpdateAlias": (
        LambdaBackend,
        "update_alias",
        _control_plane("UpdateAlias", _ORIGINALS[(LambdaBackend, "update_alias")], 1),
    ),
    "control plane: PublishVersion": (
        LambdaBackend,
        "publish_version",
        _control_plane("PublishVersion", _ORIGINALS[(LambdaBackend, "publish_version")], 0),
    ),
    "fault injection: DynamoDB PutItem": (
        DynamoDBBackend,
        "put_item",
        _table_writes("PutItem", _ORIGINALS[(DynamoDBBackend, "put_item")]),
    ),
    "fault injection: DynamoDB UpdateItem": (
        DynamoDBBackend,
        "update_item",
        _table_writes("UpdateItem", _ORIGINALS[(DynamoDBBackend, "update_item")]),
    ),
    "control plane: GetAlias": (
        LambdaBackend,
        "get_alias",
        _control_plane("GetAlias", _ORIGINALS[(LambdaBackend, "get_alias")], 1),
    ),
}


def apply() -> None:
    for owner, attribute, replacement in PATCHES.values():
        setattr(owner, attribute, replacement)


def remove() -> None:
    for (owner, attribute), original in _ORIGINALS.items():
        setattr(owner, attribute, original)
    faults.clear()
    iam.clear()
    quota.configure(rate=None, latency=0.0)
