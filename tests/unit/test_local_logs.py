"""The local runtime delivers each function's log lines to the emulator's CloudWatch Logs as Lambda does: its
log group (LoggingConfig), a stream per execution environment, START / END / REPORT around each invocation
(logs.py; moto_patches' invoke and LoggingConfig patches)."""

from __future__ import annotations

import json
import re
import time

import boto3
import pytest

from lambda_canary.demo import LOCAL_ROLE_ARN, WAITER_CONFIG, package

FUNCTION = "orders-api"
HANDLER = """
import os
import sys
import time


def handler(event, context):
    if event.get("where"):
        return [context.log_group_name, context.log_stream_name, os.environ["AWS_LAMBDA_LOG_GROUP_NAME"],
                os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]]
    if event.get("partial"):
        sys.stdout.write("no newline at the end")
        return {}
    print(f"order {event['order']} taken")
    print("a warning on stderr", file=sys.stderr)
    if event.get("fail"):
        raise RuntimeError(f"order {event['order']} refused")
    time.sleep(event.get("sleep", 0))
    return {"ok": True}
"""


@pytest.fixture
def logs_client(lam):
    return boto3.client("logs", region_name="us-east-1")


def create(lam, timeout=3, **settings):
    lam.create_function(
        FunctionName=FUNCTION, Runtime="python3.12", Role=LOCAL_ROLE_ARN, Handler="app.handler",
        Code={"ZipFile": package(HANDLER)}, Timeout=timeout, **settings,
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(FunctionName=FUNCTION, WaiterConfig=WAITER_CONFIG)
    return lam.publish_version(FunctionName=FUNCTION)["Version"]


def invoke(lam, payload, qualifier="1"):
    return lam.invoke(FunctionName=FUNCTION, Qualifier=qualifier, Payload=json.dumps(payload))


def lines_in(logs_client, group, count, timeout=10.0):
    """Every message of `group`, oldest first, once there are at least `count` (the runtime delivers them
    as the worker writes them, a moment after the invocation answers)."""
    deadline = time.monotonic() + timeout
    while True:
        events = logs_client.filter_log_events(logGroupName=group)["events"] if _exists(logs_client, group) else []
        if len(events) >= count or time.monotonic() > deadline:
            return [e["message"] for e in sorted(events, key=lambda e: (e["timestamp"], int(e["eventId"])))]
        time.sleep(0.05)


def _exists(logs_client, group):
    return any(
        g["logGroupName"] == group for g in logs_client.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    )


def test_an_invocation_writes_start_its_lines_end_and_report_to_the_functions_log_group(lam, logs_client):
    # given a function with no LoggingConfig, published as version 1
    create(lam)

    # when version 1 is invoked twice in the same execution environment
    invoke(lam, {"order": 7})
    invoke(lam, {"order": 8})

    # then /aws/lambda/orders-api holds, per invocation, START, what the handler wrote, END and REPORT
    messages = lines_in(logs_client, f"/aws/lambda/{FUNCTION}", 10)
    assert len(messages) == 10, messages
    first, second = messages[:5], messages[5:]
    start = re.fullmatch(r"START RequestId: (\S+) Version: 1", first[0])
    assert start, messages
    request_id = start.group(1)
    assert sorted(first[1:3]) == ["a warning on stderr", "order 7 taken"]
    assert first[3] == f"END RequestId: {request_id}"
    assert re.fullmatch(
        rf"REPORT RequestId: {request_id}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB"
        r"\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms",
        first[4],
    )
    assert "order 8 taken" in second and "Init Duration" not in second[4]  # a warm start has no init

    # and in one stream, named as Lambda names an execution environment's
    streams = logs_client.describe_log_streams(logGroupName=f"/aws/lambda/{FUNCTION}")["logStreams"]
    assert len(streams) == 1
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[1\][0-9a-f]{32}", streams[0]["logStreamName"])


def test_the_log_group_of_logging_config_is_used_and_reported(lam, logs_client):
    # given a function whose LoggingConfig names a log group of its stack
    logs_client.create_log_group(logGroupName="my-stack-OrdersLogs")
    create(lam, LoggingConfig={"LogGroup": "my-stack-OrdersLogs"})

    # when it is invoked
    invoke(lam, {"order": 9})

    # then its lines land in that group, not in /aws/lambda/orders-api, and its configuration says so
    assert "order 9 taken" in lines_in(logs_client, "my-stack-OrdersLogs", 5)
    assert not _exists(logs_client, f"/aws/lambda/{FUNCTION}")
    configuration = lam.get_function_configuration(FunctionName=FUNCTION)
    assert configuration["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "my-stack-OrdersLogs"}


def test_a_function_without_logging_config_reports_lambdas_default(lam):
    create(lam)
    assert lam.get_function_configuration(FunctionName=FUNCTION)["LoggingConfig"] == {
        "LogFormat": "Text",
        "LogGroup": f"/aws/lambda/{FUNCTION}",
    }


def test_an_unhandled_error_and_a_timeout_are_logged_as_lambda_logs_them(lam, logs_client):
    # given a function with a one-second timeout
    create(lam, timeout=1)

    # when one invocation raises and another runs past its timeout
    invoke(lam, {"order": 1, "fail": True})
    invoke(lam, {"order": 2, "sleep": 3})

    # then the error is logged with its type and message, and the timeout with Lambda's words and status
    messages = lines_in(logs_client, f"/aws/lambda/{FUNCTION}", 12)
    assert "[ERROR] RuntimeError: order 1 refused" in messages
    assert any(re.fullmatch(r"\S+ Task timed out after 1\.00 seconds", m) for m in messages), messages
    assert any(m.startswith("REPORT") and m.endswith("\tStatus: timeout") for m in messages)


def test_only_the_functions_own_lines_show_in_the_runtimes_terminal(lam, logs_client, capfd):
    # given a function, when it is invoked
    create(lam)
    invoke(lam, {"order": 5})
    lines_in(logs_client, f"/aws/lambda/{FUNCTION}", 5)

    # then what it wrote shows on the runtime's output, Lambda's own START / END / REPORT do not
    shown = capfd.readouterr().out
    assert "order 5 taken" in shown and "a warning on stderr" in shown
    assert "START RequestId" not in shown and "REPORT RequestId" not in shown


def test_a_handler_is_told_the_log_group_and_stream_its_lines_go_to(lam, logs_client):
    # given a function whose logs go to a group of its stack
    logs_client.create_log_group(logGroupName="my-stack-OrdersLogs")
    create(lam, LoggingConfig={"LogGroup": "my-stack-OrdersLogs"})

    # when it reads where its logs go, from its context and from Lambda's variables
    answer = json.loads(invoke(lam, {"where": True})["Payload"].read())

    # then both name the group and the stream its lines are in
    (stream,) = logs_client.describe_log_streams(logGroupName="my-stack-OrdersLogs")["logStreams"]
    assert answer == ["my-stack-OrdersLogs", stream["logStreamName"]] * 2


def test_a_last_line_without_a_newline_keeps_the_lines_lambda_writes_after_it(lam, logs_client, capfd):
    # given a function that writes a last line without a newline
    create(lam)

    # when it is invoked
    invoke(lam, {"partial": True})

    # then its line and Lambda's END and REPORT are each an event of their own, and the terminal shows its line
    messages = lines_in(logs_client, f"/aws/lambda/{FUNCTION}", 4)
    assert messages[1] == "no newline at the end" and messages[2].startswith("END RequestId: ")
    assert messages[3].startswith("REPORT RequestId: ")
    shown = capfd.readouterr().out
    assert "no newline at the end\n" in shown and "lambda-platform" not in shown


def test_a_new_execution_environment_never_changes_a_dict_a_reader_is_going_through(lam):
    # given the emulator's Logs holding one function's group and stream, and a reader (a FilterLogEvents
    # request, in its own thread) halfway through the groups and the streams
    from moto.logs.models import logs_backends

    from lambda_canary.local.logs import LogStream

    LogStream("123456789012", "us-east-1", "/aws/lambda/orders-api", "1")
    backend = logs_backends["123456789012"]["us-east-1"]
    groups, streams = iter(backend.groups.items()), iter(backend.groups["/aws/lambda/orders-api"].streams.items())
    next(groups), next(streams)

    # when new execution environments start, one of a function with no group yet
    LogStream("123456789012", "us-east-1", "/aws/lambda/orders-api", "1")
    LogStream("123456789012", "us-east-1", "/aws/lambda/payments", "1")

    # then the reader goes on through what it was reading (a dict changed in place would raise RuntimeError)
    assert list(groups) == [] and list(streams) == []
    assert len(backend.groups["/aws/lambda/orders-api"].streams) == 2 and "/aws/lambda/payments" in backend.groups


def test_a_line_past_the_event_limit_arrives_whole_in_several_events(lam, logs_client):
    # given an execution environment's stream, and a line of 300,000 characters, some of them two bytes long
    from lambda_canary.local.logs import MAX_EVENT_BYTES, LogStream

    stream = LogStream("123456789012", "us-east-1", "/aws/lambda/orders-api", "1")
    line = ("é" + "a" * 99) * 3000

    # when it is written
    stream.write(line)

    # then CloudWatch Logs holds it as events within the limit that put together give the line back
    events = logs_client.get_log_events(logGroupName=stream.group, logStreamName=stream.name, startFromHead=True)[
        "events"
    ]
    assert len(events) == 2
    assert all(len(e["message"].encode()) <= MAX_EVENT_BYTES for e in events)
    assert "".join(e["message"] for e in events) == line


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"LogFormat": "Bogus"}, "loggingConfig.logFormat"),
        ({"ApplicationLogLevel": "LOUD"}, "loggingConfig.applicationLogLevel"),
        ({"SystemLogLevel": "TRACE"}, "loggingConfig.systemLogLevel"),
        ({"LogGroup": "no spaces allowed"}, "loggingConfig.logGroup"),
    ],
)
def test_a_logging_config_lambda_refuses_is_refused_naming_the_field(lam, config, field):
    # when a function is created, or updated, with a LoggingConfig value Lambda's API does not allow
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match=field):
        create(lam, LoggingConfig=config)
    create(lam)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match=field):
        lam.update_function_configuration(FunctionName=FUNCTION, LoggingConfig=config)

    # then the function keeps Lambda's default
    assert lam.get_function_configuration(FunctionName=FUNCTION)["LoggingConfig"]["LogFormat"] == "Text"
