"""Every change this project makes to the AWS emulator (moto), in one place.

Each patch covers a gap between moto and AWS that the workflow depends on, and each has a test in
tests/unit/test_moto_gaps.py that shows the gap on unpatched moto, so a moto upgrade tells which patches
are still needed. moto is pinned exactly (pyproject.toml) because these reach into its internals.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import random
import re
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import parse_qs, unquote

from botocore.exceptions import ClientError
from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError, PreconditionFailedException
from moto.awslambda.models import LambdaAlias, LambdaBackend, LambdaFunction
from moto.awslambda.responses import LambdaResponse
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.cloudwatch.exceptions import ValidationError
from moto.cloudwatch.metric_data_expression_parser import parse_expression
from moto.cloudwatch.models import CloudWatchBackend, MetricDatumBase
from moto.core.responses import BaseResponse
from moto.dynamodb.models import DynamoDBBackend
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

from lambda_canary.local import async_invoke, faults, function_states, iam, lambda_runner, logs, metrics
from lambda_canary.local.names import function_name_and_qualifier
from lambda_canary.local.quota import quota

logger = logging.getLogger(__name__)

_ORIGINALS: dict[tuple[type, str], Callable[..., Any]] = {
    (LambdaSimpleBackend, "invoke"): LambdaSimpleBackend.invoke,
    (LambdaResponse, "invoke"): LambdaResponse.invoke,
    (LambdaBackend, "update_alias"): LambdaBackend.update_alias,
    (LambdaBackend, "publish_version"): LambdaBackend.publish_version,
    (LambdaBackend, "get_alias"): LambdaBackend.get_alias,
    (LambdaBackend, "list_versions_by_function"): LambdaBackend.list_versions_by_function,
    (LambdaBackend, "list_aliases"): LambdaBackend.list_aliases,
    (LambdaAlias, "update"): LambdaAlias.update,
    (Environment, "set_stop"): Environment.set_stop,
    (Environment, "set_error"): Environment.set_error,
    (DynamoDBBackend, "put_item"): DynamoDBBackend.put_item,
    (DynamoDBBackend, "update_item"): DynamoDBBackend.update_item,
    (LambdaResponse, "update_alias"): LambdaResponse.update_alias,
    (FailureEvent, "__init__"): FailureEvent.__init__,
    (LambdaFunction, "get_configuration"): LambdaFunction.get_configuration,
    (LambdaBackend, "create_function"): LambdaBackend.create_function,
    (LambdaBackend, "update_function_code"): LambdaBackend.update_function_code,
    (LambdaBackend, "update_function_configuration"): LambdaBackend.update_function_configuration,
    (BaseResponse, "_authenticate_and_authorize_normal_action"): BaseResponse._authenticate_and_authorize_normal_action,
    (CloudWatchBackend, "get_metric_data"): CloudWatchBackend.get_metric_data,
    (CloudWatchBackend, "put_metric_alarm"): CloudWatchBackend.put_metric_alarm,
    (StateTaskLambda, "_from_error"): StateTaskLambda._from_error,
}
_before_update: dict[str, LambdaFunction] = {}  # function name -> $LATEST as it was before its last update
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

    Gap 12: moto's Lambda publishes no metrics; Lambda records Invocations, Errors, Duration and Throttles
    in CloudWatch for every invocation (lambda_runner.py records them, metrics.py says how).

    And nothing reaches CloudWatch Logs: Lambda delivers what each execution environment writes, with its
    START, END and REPORT lines, to the function's log group (lambda_runner.py reads it, logs.py says how).
    """
    name, qualifier = function_name_and_qualifier(function_name, qualifier)
    function = self.get_function(name, _routed_version(self, name, qualifier))
    function_states.refuse_invoke_while_pending(name, str(function.version))
    if function.version == "$LATEST" and function_states.status(name).last_update_status == "InProgress":
        function = _before_update.get(name, function)  # AWS runs the code from before an unfinished update
    response_headers["x-amz-executed-version"] = str(function.version)
    if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
        threading.Thread(target=_invoke_in_background, args=(function, body, qualifier), daemon=True).start()
        return b""
    return lambda_runner.invoke(function, body, response_headers, qualifier)


def _invoke_in_background(function: Any, body: Any, qualifier: str | None) -> None:
    """Gap 9: an Event invocation that fails is never retried by moto, nor sent to its on-failure
    destination; AWS retries it as its EventInvokeConfig says, then sends the record (async_invoke.py)."""
    async_invoke.run(function, body, functools.partial(lambda_runner.invoke, qualifier=qualifier))


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


# Invoke's request payload limits (AWS's Invoke API reference): 6 MB synchronous, 1 MB asynchronous
MAX_PAYLOAD_BYTES = {"RequestResponse": 6 * 1024 * 1024, "Event": 1024 * 1024}
MAX_CAUSE_CHARACTERS = 32_768  # an error's cause in Step Functions (TaskFailedEventDetails, ExecutionFailed...)


class RequestTooLarge(LambdaClientError):
    def __init__(self, message: str) -> None:
        super().__init__("RequestTooLargeException", message)
        self.code = 413


def _invoke_as_aws_receives_it(self: LambdaResponse) -> Any:
    """Gap 6: moto's Invoke reads a `qualifier` query parameter, but clients send `Qualifier`, so an alias
    or version passed that way runs $LATEST.

    Gap 9: moto invokes with a payload of any size; AWS refuses one over 6 MB (1 MB for an Event invocation)
    with RequestTooLargeException.

    Not a gap: an armed "Invoke" fault (faults.py) fails the invocation as Lambda's service can."""
    faults.check("Invoke", unquote(self.path.rsplit("/", 2)[-2]))
    invocation_type = (self.headers or {}).get("X-Amz-Invocation-Type") or "RequestResponse"
    limit = MAX_PAYLOAD_BYTES.get(invocation_type, MAX_PAYLOAD_BYTES["RequestResponse"])
    size = len(self.body or b"")
    if size > limit:
        raise RequestTooLarge(f"Request must be smaller than {limit} bytes for the Invoke operation (got {size})")
    if "Qualifier" in self.querystring:
        self.querystring.setdefault("qualifier", self.querystring["Qualifier"])
    return _ORIGINALS[(LambdaResponse, "invoke")](self)


def _causes_capped(self: FailureEvent, *args: Any, **kwargs: Any) -> None:
    """Gap 10: moto keeps an error's cause whole; Step Functions keeps at most 32,768 characters of it (a
    Lambda error's JSON cause cut there no longer parses)."""
    _ORIGINALS[(FailureEvent, "__init__")](self, *args, **kwargs)
    for details in (self.event_details or {}).values():
        if isinstance(details, dict) and isinstance(details.get("cause"), str):
            details["cause"] = details["cause"][:MAX_CAUSE_CHARACTERS]


def _lambda_task_errors_named_as_aws_names_them(self: StateTaskLambda, env: Environment, ex: Exception) -> Any:
    """Gap 15: a task whose Resource is a function's ARN reports a Lambda API error (a 500, a throttle) as
    "Exception"; Step Functions reports it as "Lambda.<code>" (Lambda.ServiceException,
    Lambda.TooManyRequestsException...), as for the lambda:invoke integration, so Retry matches it."""
    event = _ORIGINALS[(StateTaskLambda, "_from_error")](self, env, ex)
    if isinstance(ex, ClientError):
        name = f"Lambda.{ex.response['Error']['Code']}"
        event.error_name = CustomErrorName(name)
        details = event.event_details.get("lambdaFunctionFailedEventDetails")
        if isinstance(details, dict):
            details["error"] = name
    return event


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


def _versions_by_name_or_arn(self: LambdaBackend, function_name: str) -> Any:
    """Gap 10: moto's ListVersionsByFunction finds a function by its name only: given its ARN (which AWS
    accepts) it answers an empty list, as it does for a function that does not exist, where AWS answers
    ResourceNotFoundException."""
    name = function_name_and_qualifier(unquote(function_name))[0]
    self.get_function(name)  # UnknownFunctionException: AWS's ResourceNotFoundException
    return _ORIGINALS[(LambdaBackend, "list_versions_by_function")](self, name)


def _aliases_by_name_or_arn(self: LambdaBackend, function_name: str) -> Any:
    """Gap 11: moto's ListAliases takes a function ARN as it comes in the path, still URL-encoded, and finds
    no such function; AWS accepts the ARN."""
    return _ORIGINALS[(LambdaBackend, "list_aliases")](self, unquote(function_name))


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


def _configuration_with_state(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
    """Gap 9: moto reports every function `Active` and its last update `Successful` at once; on AWS a
    create is `Pending`, an update `InProgress`, for a while, and an update can end `Failed`."""
    configuration = cast(dict[str, Any], _ORIGINALS[(LambdaFunction, "get_configuration")](self, on_create))
    configuration.update(function_states.status(self.function_name, str(self.version)).fields())
    if _dead_letter_target(self):
        configuration["DeadLetterConfig"] = {"TargetArn": _dead_letter_target(self)}
    configuration["LoggingConfig"] = _logging_config(self)
    if on_create:  # CreateFunction's answer has no LastUpdateStatus yet
        for key in ("LastUpdateStatus", "LastUpdateStatusReason", "LastUpdateStatusReasonCode"):
            configuration.pop(key, None)
    return configuration


def _create_takes_time(self: LambdaBackend, spec: dict[str, Any]) -> Any:
    """Gap 9 (cont.): a new function is `Pending` for the configured seconds, as on AWS."""
    _check_logging_config(spec)
    function = _ORIGINALS[(LambdaBackend, "create_function")](self, spec)
    function_states.created(function.function_name)
    _keep_dead_letter_config(self.get_function(function.function_name, None), spec)
    _keep_logging_config(self.get_function(function.function_name, None), spec)
    return function


def _update_takes_time(api: tuple[type, str]) -> Callable[..., Any]:
    """Gap 9 (cont.): an update is `InProgress` for the configured seconds, and AWS refuses another update
    of the function (or a publish) meanwhile with ResourceConflictException; invocations meanwhile run the
    code and settings from before it."""

    def update(self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]) -> Any:
        function = self.get_function(function_name, None)
        _check_logging_config(body)
        function_states.refuse_while_busy(function.function_name, function.function_arn)
        failure = function_states.next_update_fails(function.function_name)
        function_states.updated(function.function_name, failure)
        if failure:  # Lambda abandons a failed update: the function keeps its code and settings
            return function.get_configuration()
        _before_update[function.function_name] = copy.copy(function)
        answer = _ORIGINALS[api](self, function_name, qualifier, body)
        _keep_dead_letter_config(function, body)
        _keep_logging_config(function, body)
        return answer

    return update


def _keep_dead_letter_config(function: LambdaFunction, request: dict[str, Any]) -> None:
    """Gap 10: moto drops DeadLetterConfig; Lambda keeps it, and a version published carries it."""
    if "DeadLetterConfig" in request:
        function.dead_letter_target = (request["DeadLetterConfig"] or {}).get("TargetArn") or None  # type: ignore[attr-defined]


def _keep_logging_config(function: LambdaFunction, request: dict[str, Any]) -> None:
    """moto drops LoggingConfig; Lambda keeps it (where the function's logs go) and reports it, by
    default Text lines to /aws/lambda/<name>."""
    if "LoggingConfig" in request:
        function.logging_config = {**_logging_config(function), **(request["LoggingConfig"] or {})}  # type: ignore[attr-defined]


# LoggingConfig's values as Lambda's API allows them (the LogGroup name as CloudWatch Logs allows it)
_LOGGING_VALUES = {
    "LogFormat": ("JSON", "Text"),
    "ApplicationLogLevel": ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"),
    "SystemLogLevel": ("DEBUG", "INFO", "WARN"),
}
_LOG_GROUP_NAME = re.compile(r"[\.\-_/#A-Za-z0-9]{1,512}")


def _check_logging_config(request: dict[str, Any]) -> None:
    """moto takes any LoggingConfig; Lambda refuses a value outside its API's lists, and a log group name
    CloudWatch Logs would refuse. (The local runtime writes Text lines whatever LogFormat says.)"""
    config = request.get("LoggingConfig") or {}
    for key, allowed in _LOGGING_VALUES.items():
        if key in config and config[key] not in allowed:
            raise InvalidParameterValueException(
                f"1 validation error detected: Value '{config[key]}' at 'loggingConfig.{key[0].lower()}{key[1:]}' "
                f"failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(allowed)}]"
            )
    group = config.get("LogGroup")
    if group is not None and not _LOG_GROUP_NAME.fullmatch(str(group)):
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{group}' at 'loggingConfig.logGroup' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+ (1 to 512)"
        )


def _logging_config(function: LambdaFunction) -> dict[str, Any]:
    kept = getattr(function, "logging_config", None)
    return dict(kept) if kept else {"LogFormat": "Text", "LogGroup": logs.default_group(function.function_name)}


def _dead_letter_target(function: LambdaFunction) -> str | None:
    return cast(str | None, getattr(function, "dead_letter_target", None))


def _weights_need_matching_versions(original: Callable[..., Any]) -> Callable[..., Any]:
    """Gap 10 (cont.): moto weights an alias between any two versions; Lambda refuses versions whose execution
    role or dead-letter queue differ."""

    def update(
        self: LambdaBackend,
        name: str,
        function_name: str,
        function_version: str | None,
        description: str,
        routing_config: Any,
    ) -> Any:
        weights = (routing_config or {}).get("AdditionalVersionWeights") or {}
        if weights:
            main_version = function_version or self._lambdas.get_alias(name, function_name).function_version
            main = self.get_function(function_name, str(main_version))
            for version in weights:
                other = self.get_function(function_name, str(version))
                if other.role != main.role:
                    raise InvalidParameterValueException(
                        "Specified versions must be associated with the same execution role"
                    )
                if _dead_letter_target(other) != _dead_letter_target(main):
                    # wording assumed, modelled on the execution role's
                    raise InvalidParameterValueException(
                        "Specified versions must be associated with the same dead letter config"
                    )
        return original(self, name, function_name, function_version, description, routing_config)

    return update


def _publish_when_ready(self: LambdaBackend, function_name: str, description: str = "") -> Any:
    """Gap 9 (cont.): PublishVersion is refused while the function is created or updated; a version published
    of a function whose versions are held (a test's SnapStart stand-in) is `Pending` for a while."""
    latest = self.get_function(function_name, None)
    function_states.refuse_while_busy(latest.function_name, latest.function_arn)
    known = {str(v.version) for v in self.list_versions_by_function(latest.function_name)}
    function = _ORIGINALS[(LambdaBackend, "publish_version")](self, function_name, description)
    if function is not None and str(function.version) not in known:
        function_states.published(latest.function_name, str(function.version))
    return function


def _control_plane(api: str, original: Callable[..., Any], name_argument: int) -> Callable[..., Any]:
    """Not a gap: the simulated request quota (quota.py) and injected faults (faults.py) for one API."""

    def call(self: LambdaBackend, *args: Any, **kwargs: Any) -> Any:
        function_name = kwargs["function_name"] if "function_name" in kwargs else args[name_argument]
        quota.admit(api)
        faults.check(api, function_name)
        return original(self, *args, **kwargs)

    return call


def _metric_data_as_cloudwatch_answers(
    self: CloudWatchBackend,
    queries: list[dict[str, Any]],
    start_time: datetime,
    end_time: datetime,
    scan_by: str = "TimestampDescending",
) -> list[dict[str, Any]]:
    """Gap 13: moto's GetMetricData answers no percentile or other extended statistic (p99 fails the call),
    ignores a query's namespace when it names dimensions, finds a metric's dimensions only in the order they
    were put, and gives a query without dimensions every data point of the metric, whatever its dimensions.
    CloudWatch matches namespace, name and the exact set of dimensions, and computes extended statistics
    from single values; it rounds StartTime down to the minute (to the period under a minute).

    Not a gap: moto scans every data point for each query and period; here they are indexed once per call,
    as the analysis asks for thousands of series at once."""
    stat_queries = [query for query in queries if "MetricStat" in query]
    if not stat_queries:
        return cast(
            list[dict[str, Any]],
            _ORIGINALS[(CloudWatchBackend, "get_metric_data")](self, queries, start_time, end_time, scan_by),
        )
    start_time, end_time = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
    if start_time >= end_time:
        raise ValidationError("The parameter StartTime must be less than the parameter EndTime.")
    for query in stat_queries:
        metrics.check_statistic(str(query["MetricStat"]["Stat"]))
    earliest = start_time.replace(second=0)
    index: dict[tuple[str, str, frozenset[tuple[str | None, str | None]]], list[MetricDatumBase]] = {}
    for datum in self.get_all_metrics():
        if earliest <= datum.timestamp < end_time:
            key = (datum.namespace, datum.name, frozenset((d.name, d.value) for d in datum.dimensions))
            index.setdefault(key, []).append(datum)
    results: dict[str, dict[str, Any]] = {}
    for query in stat_queries:
        stat = query["MetricStat"]
        metric = stat["Metric"]
        period = int(stat["Period"])
        start = (
            start_time.replace(second=0)
            if period >= 60
            else start_time.replace(second=start_time.second - start_time.second % period)
        )
        dimensions = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions") or [])
        periods: dict[int, list[MetricDatumBase]] = {}
        for datum in index.get((metric["Namespace"], metric["MetricName"], dimensions), []):
            if datum.timestamp >= start and (not stat.get("Unit") or datum.unit == stat["Unit"]):
                periods.setdefault(int((datum.timestamp - start).total_seconds()) // period, []).append(datum)
        series = [
            (start + timedelta(seconds=number * period), value)
            for number in sorted(periods, reverse=scan_by == "TimestampDescending")
            if (value := metrics.statistic(periods[number], str(stat["Stat"]))) is not None
        ]
        results[query["Id"]] = {
            "id": query["Id"],
            "label": query.get("Label") or f"{metric['MetricName']} {stat['Stat']}",
            "values": [value for _, value in series],
            "timestamps": [timestamp for timestamp, _ in series],
            "status_code": "Complete",
        }
    others = [query for query in queries if "MetricStat" not in query]
    for query in others:
        if not query["Expression"].startswith("SELECT"):
            values, timestamps = parse_expression(query["Expression"], list(results.values()))
            label = query.get("Label") or query["Id"]
            results[query["Id"]] = {
                "id": query["Id"],
                "label": label,
                "values": values,
                "timestamps": timestamps,
                "status_code": "Complete",
            }
    insights = [query for query in others if query["Expression"].startswith("SELECT")]
    if insights:
        for answer in _ORIGINALS[(CloudWatchBackend, "get_metric_data")](self, insights, start_time, end_time, scan_by):
            results[answer["id"]] = answer
    return [results[query["Id"]] for query in queries if query.get("ReturnData", True) and query["Id"] in results]


def _alarm_state_as_cloudwatch_keeps_it(self: CloudWatchBackend, name: str, *args: Any, **kwargs: Any) -> Any:
    """Gap 14: moto starts a new alarm in OK, and PutMetricAlarm on an existing alarm puts it back to OK; on
    CloudWatch a new alarm is INSUFFICIENT_DATA until evaluated, and an update leaves its state unchanged."""
    existing = self.alarms.get(name)
    alarm = _ORIGINALS[(CloudWatchBackend, "put_metric_alarm")](self, name, *args, **kwargs)
    if existing is None:
        alarm.state_value = "INSUFFICIENT_DATA"
    else:
        alarm.state_value, alarm.state_reason = existing.state_value, existing.state_reason
        alarm.state_reason_data, alarm.state_updated_timestamp = (
            existing.state_reason_data,
            existing.state_updated_timestamp,
        )
        alarm.history = existing.history
    return alarm


def _table_writes(api: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """Not a gap: lets tests make a table refuse writes for a while, as DynamoDB can (see faults.py)."""

    def call(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Any:
        faults.check(api, table_name)
        return original(self, table_name, *args, **kwargs)

    return call


PATCHES = {
    "lambda invoke runs the deployed handler, on the version its alias routes to, in the background for Event, "
    "retried, then sent to its on-failure destination, and records its metrics and logs": (
        LambdaSimpleBackend,
        "invoke",
        _invoke_real_handler,
    ),
    "Invoke reads the Qualifier parameter and refuses payloads over AWS's limits": (
        LambdaResponse,
        "invoke",
        _invoke_as_aws_receives_it,
    ),
    "Step Functions keeps 32,768 characters of a cause": (FailureEvent, "__init__", _causes_capped),
    "a function's calls are limited to its template policies": (
        BaseResponse,
        "_authenticate_and_authorize_normal_action",
        _calls_checked_against_policies,
    ),
    "alias updates renew the RevisionId": (LambdaAlias, "update", _alias_update_renews_revision),
    "a Lambda task names Lambda's API errors Lambda.<code>": (
        StateTaskLambda,
        "_from_error",
        _lambda_task_errors_named_as_aws_names_them,
    ),
    "ListVersionsByFunction reads a function ARN": (
        LambdaBackend,
        "list_versions_by_function",
        _versions_by_name_or_arn,
    ),
    "ListAliases reads a function ARN": (LambdaBackend, "list_aliases", _aliases_by_name_or_arn),
    "UpdateAlias checks the RevisionId": (LambdaResponse, "update_alias", _update_alias_checks_revision),
    "StopExecution ends a task-token wait": (Environment, "set_stop", _stop_interrupts_waits),
    "a stopped execution stays ABORTED": (Environment, "set_error", _stopped_stays_stopped),
    "UpdateAlias weights only versions with the same execution role and dead-letter queue (and the control plane)": (
        LambdaBackend,
        "update_alias",
        _control_plane("UpdateAlias", _weights_need_matching_versions(_ORIGINALS[(LambdaBackend, "update_alias")]), 1),
    ),
    "PublishVersion is refused while the function is created or updated (and the control plane)": (
        LambdaBackend,
        "publish_version",
        _control_plane("PublishVersion", _publish_when_ready, 0),
    ),
    "GetFunction reports a create Pending and an update InProgress, then Active and Successful or Failed, "
    "and the function's LoggingConfig": (
        LambdaFunction,
        "get_configuration",
        _configuration_with_state,
    ),
    "a create takes time and keeps LoggingConfig": (LambdaBackend, "create_function", _create_takes_time),
    "UpdateFunctionCode takes time and is refused during another update": (
        LambdaBackend,
        "update_function_code",
        _update_takes_time((LambdaBackend, "update_function_code")),
    ),
    "UpdateFunctionConfiguration takes time and is refused during another update": (
        LambdaBackend,
        "update_function_configuration",
        _update_takes_time((LambdaBackend, "update_function_configuration")),
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
    "GetMetricData matches namespace and dimensions as CloudWatch does and computes percentiles": (
        CloudWatchBackend,
        "get_metric_data",
        _metric_data_as_cloudwatch_answers,
    ),
    "a new alarm is INSUFFICIENT_DATA and an updated one keeps its state": (
        CloudWatchBackend,
        "put_metric_alarm",
        _alarm_state_as_cloudwatch_keeps_it,
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
    function_states.clear()
    _before_update.clear()
    metrics.clear()
    quota.configure(rate=None, latency=0.0)
