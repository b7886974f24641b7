"""Slack app mode: buttons posted to the interactivity endpoint with Slack's real payload and signature."""

from __future__ import annotations

import io
import json
import secrets
import time
import uuid
import zipfile
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from canary_core.slack_requests import signature
from lambda_canary.demo import WAITER_CONFIG, alias_state

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PAYLOAD = json.loads((ROOT / "events" / "slack-block-actions.json").read_text())
SIGNING_SECRET = secrets.token_hex(16)
CHANNEL = "C0CANARY"
ALICE = {"id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T0CANARY"}
MALLORY = {"id": "U0MALLORY", "username": "mallory", "name": "mallory", "team_id": "T0CANARY"}
CAROL = {"id": "U0CAROL", "username": "carol", "name": "carol", "team_id": "T0CANARY"}


@pytest.fixture(scope="module")
def app(start_local):
    return start_local(
        "--parameter", "SlackMode=app",
        "--parameter", "SlackBotToken=xoxb-local-test-token",
        "--parameter", f"SlackSigningSecret={SIGNING_SECRET}",
        "--parameter", f"SlackChannel={CHANNEL}",
        "--parameter", "SlackApprovers=U0ALICE,U0BOB,S0RELEASE",
        "--parameter", "AllowPreApprove=true",
    )  # fmt: skip


class AppFleet:
    def __init__(self, app, count: int = 2) -> None:
        self.app, self.lam, self.sfn = app, app.client("lambda"), app.client("stepfunctions")
        self.repository = f"repo-{uuid.uuid4().hex[:8]}"
        self.names = [f"app-{uuid.uuid4().hex[:8]}-{i}" for i in range(count)]
        role = f"arn:aws:iam::123456789012:role/{self.repository}"
        app.client("iam").create_role(RoleName=self.repository, AssumeRolePolicyDocument="{}")
        for name in self.names:
            self.lam.create_function(
                FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": _zip(1)}
            )
        for name in self.names:
            self.lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=WAITER_CONFIG)
            version = self.lam.publish_version(FunctionName=name)["Version"]
            self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
            self.lam.update_function_code(FunctionName=name, ZipFile=_zip(2))
        for name in self.names:
            self.lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAITER_CONFIG)

    def start(self, build_no: int = 2, **overrides) -> str:
        body = {"repository": self.repository, "build_no": build_no, "functions": self.names, **overrides}
        return self.sfn.start_execution(
            stateMachineArn=self.app.outputs["StateMachineArn"],
            name=f"{self.repository}-{build_no}",
            input=json.dumps(body),
        )["executionArn"]

    def aliases(self):
        return {name: alias_state(self.lam, name) for name in self.names}

    def log(self, endpoint_prefix: str = "") -> list[dict]:
        title = f"{self.repository} build"
        return [
            e
            for e in self.app.slack_log()
            if e["endpoint"].startswith(endpoint_prefix) and title in json.dumps(e["payload"])
        ]

    def request_message(self, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            posted = self.log("/api/chat.postMessage")
            if posted:
                return posted[0]["payload"]
            time.sleep(0.1)
        raise TimeoutError("no chat.postMessage for this deployment")

    def wait_for_update(self, timeout: float = 30) -> dict:
        """The last chat.update of the request message, once there is one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            updates = self.log("/api/chat.update")
            if updates:
                return updates[-1]["payload"]
            time.sleep(0.1)
        raise TimeoutError("the request message was not updated")

    def item(self) -> dict:
        table = self.app.client("dynamodb")
        key = {"repository": {"S": self.repository}, "build_no": {"N": "2"}}
        return table.get_item(TableName=self.app.outputs["DeploymentsTableName"], Key=key, ConsistentRead=True)["Item"]


def _zip(build: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"def handler(event, context):\n    return {{'build': {build}}}\n")
    return buffer.getvalue()


def _button(message: dict, action: str) -> dict:
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    return next(e for e in actions["elements"] if e["action_id"] == action)


def signed_press(app, message: dict, action: str, user: dict, *, timestamp: int | None = None,
                 secret: str = SIGNING_SECRET, response_id: str | None = None) -> tuple[str, dict]:  # fmt: skip
    """The body and headers Slack posts when `user` presses the button, signed as Slack signs them."""
    payload = json.loads(json.dumps(SAMPLE_PAYLOAD))
    payload["user"] = user
    payload["actions"][0].update(action_id=action, value=_button(message, action)["value"])
    payload["response_url"] = f"{app.approval_url}/_local/slack/response/{response_id or uuid.uuid4().hex}"
    body = urlencode({"payload": json.dumps(payload)})
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature(secret, str(timestamp), body),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    return body, headers


def post_press(app, body: str, headers: dict) -> requests.Response:
    return requests.post(f"{app.outputs['ApprovalApiUrl']}/slack/interactivity", data=body, headers=headers, timeout=10)


def press(app, message: dict, action: str, user: dict, **options) -> requests.Response:
    """POST to the interactivity endpoint what Slack posts when `user` presses the button."""
    return post_press(app, *signed_press(app, message, action, user, **options))


def replies(app, reply_id: str, timeout: float = 15) -> list[dict]:
    """What was posted to a press's response_url: the press is decided after Slack got its answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        posted = [e["payload"] for e in app.slack_log() if e["endpoint"] == f"/response/{reply_id}"]
        if posted:
            return posted
        time.sleep(0.05)
    raise TimeoutError(f"nothing posted to response_url {reply_id}")


def slack_latency(app, seconds: float) -> None:
    requests.post(f"{app.approval_url}/_local/slack/latency", json={"seconds": seconds}, timeout=10)


def test_request_is_posted_by_the_app_with_buttons_not_links(app):
    fleet = AppFleet(app)
    fleet.start()

    message = fleet.request_message()

    assert message["channel"] == CHANNEL
    for action in ("approve", "rollback"):
        button = _button(message, action)
        assert "url" not in button and "signature=" in button["value"]
    app_call = fleet.log("/api/chat.postMessage")[0]
    assert app_call["endpoint"] == "/api/chat.postMessage"
    press(app, message, "rollback", ALICE)


def test_forged_stale_and_unauthorised_presses_change_nothing(app):
    fleet = AppFleet(app)
    execution = fleet.start()
    message = fleet.request_message()
    canary = {name: ("1", {"2": 0.1}) for name in fleet.names}

    forged = press(app, message, "approve", ALICE, secret="not-the-signing-secret")
    stale = press(app, message, "approve", ALICE, timestamp=int(time.time()) - 600)
    reply_id = uuid.uuid4().hex
    mallory = press(app, message, "approve", MALLORY, response_id=reply_id)

    assert forged.status_code == 401 and "signature" in forged.text
    assert stale.status_code == 401 and "stale" in stale.text
    assert mallory.status_code == 200
    (reply,) = replies(app, reply_id)
    assert reply == {"response_type": "ephemeral", "replace_original": False, "text": reply["text"]}
    assert "not allowed" in reply["text"]
    assert fleet.aliases() == canary
    assert "decision" not in fleet.item()
    assert app.client("stepfunctions").describe_execution(executionArn=execution)["status"] == "RUNNING"
    press(app, message, "rollback", ALICE)
    assert app.wait_for_execution(execution)["status"] == "FAILED"


def test_approve_button_decides_as_the_slack_user_and_the_message_is_updated(app):
    fleet = AppFleet(app)
    execution = fleet.start()
    message = fleet.request_message()
    reply_id = uuid.uuid4().hex

    response = press(app, message, "approve", ALICE, response_id=reply_id)

    # Slack gets its answer at once; the message is then replaced by the decision
    assert response.status_code == 200
    replaced = replies(app, reply_id)
    assert replaced[0]["replace_original"] is True and "Approved by alice" in replaced[0]["text"]
    assert app.wait_for_execution(execution)["status"] == "SUCCEEDED"
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}
    decision = fleet.item()["decision"]["M"]
    assert decision["decided_by"]["S"] == "alice" and decision["user_id"]["S"] == "U0ALICE"

    # and when the deployment ends, the original message is updated in place: outcome, who, no buttons
    updates = fleet.log("/api/chat.update")
    assert updates, "the request message was not updated"
    update = updates[-1]["payload"]
    assert update["channel"] == CHANNEL and update["text"].startswith("Promoted")
    assert "alice" in update["text"] and not [b for b in update["blocks"] if b["type"] == "actions"]

    # a later press of the other button meets the first decision: nothing changes
    later_id = uuid.uuid4().hex
    assert press(app, message, "rollback", ALICE, response_id=later_id).status_code == 200
    assert "already decided: approve by alice" in replies(app, later_id)[0]["text"]
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}


def trail_events(fleet) -> list[str]:
    return [event["M"]["event"]["S"] for event in fleet.item()["trail"]["L"]]


def test_a_press_replayed_byte_for_byte_decides_once(app):
    # given a deployment waiting, and alice's press as Slack signed it
    fleet = AppFleet(app)
    execution = fleet.start()
    reply_id = uuid.uuid4().hex
    body, headers = signed_press(app, fleet.request_message(), "approve", ALICE, response_id=reply_id)

    # when the same request arrives twice, the second as Slack's retry (within the five minutes a signature lasts)
    first = post_press(app, body, headers)
    retry = post_press(app, body, {**headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})

    # then both get 200, one decision is taken, the other press is told so, and the deployment is promoted once
    assert (first.status_code, retry.status_code) == (200, 200)
    assert app.wait_for_execution(execution)["status"] == "SUCCEEDED"
    answers = replies(app, reply_id)
    deadline = time.monotonic() + 15
    while len(answers) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        answers = replies(app, reply_id)
    assert sorted(a.get("replace_original") for a in answers) == [False, True]
    assert trail_events(fleet).count("decision: approve") == 1
    assert fleet.item()["late_decisions"] == {"N": "1"}
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}


def test_a_slow_slack_does_not_delay_the_answer_to_a_press(app):
    # given carol, an approver through user group S0RELEASE, and a Slack that takes 3 s to answer any call:
    # checking her group and replacing the message would take 6 s, twice what Slack waits for its answer
    requests.post(f"{app.approval_url}/_local/slack/usergroups", json={"S0RELEASE": ["U0CAROL"]}, timeout=10)
    fleet = AppFleet(app)
    execution = fleet.start()
    message = fleet.request_message()
    slack_latency(app, 3)
    try:
        # when she presses Approve
        started = time.monotonic()
        response = press(app, message, "approve", CAROL)
        answered = time.monotonic() - started

        # then Slack has its 200 within its three seconds, and the press is decided all the same
        assert response.status_code == 200 and answered < 3, answered
        assert app.wait_for_execution(execution)["status"] == "SUCCEEDED"
    finally:
        slack_latency(app, 0)
    assert fleet.item()["decision"]["M"]["decided_by"]["S"] == "carol"


@pytest.mark.parametrize("ending", ["automatic roll back", "timeout", "pre-approval", "stopped"])
def test_the_message_is_updated_however_the_deployment_ends(app, ending):
    fleet = AppFleet(app)
    overrides = {"timeout": {"approval_timeout_seconds": 1}, "pre-approval": {"pre_approve": True}}.get(ending, {})
    execution = fleet.start(**overrides)
    message = fleet.request_message()
    if ending == "automatic roll back":  # an alias changed by hand makes the promote stop and roll back
        fleet.lam.update_function_code(FunctionName=fleet.names[0], ZipFile=_zip(3))
        fleet.lam.get_waiter("function_updated_v2").wait(FunctionName=fleet.names[0], WaiterConfig=WAITER_CONFIG)
        version = fleet.lam.publish_version(FunctionName=fleet.names[0])["Version"]
        no_weights = {"AdditionalVersionWeights": {}}
        fleet.lam.update_alias(
            FunctionName=fleet.names[0], Name="live", FunctionVersion=version, RoutingConfig=no_weights
        )
        press(app, message, "approve", ALICE)
    if ending == "stopped":  # from the console: the EventBridge rule runs Clean Up, which posts the ending
        fleet.sfn.stop_execution(executionArn=execution, cause="stopped from the console")

    ended = app.wait_for_execution(execution)

    expected = {"pre-approval": "Promoted"}.get(ending, "Rolled back")
    assert ended["status"] == {"pre-approval": "SUCCEEDED", "stopped": "ABORTED"}.get(ending, "FAILED")
    update = fleet.wait_for_update()
    assert update["text"].startswith(expected)
    assert update["ts"] == fleet.item()["slack_message"]["M"]["ts"]["S"]
    if ending == "timeout":  # and said in the thread: an edited message notifies nobody
        thread = [e["payload"] for e in fleet.log("/api/chat.postMessage") if "thread_ts" in e["payload"]]
        assert thread[-1]["thread_ts"] == update["ts"] and "reason: timeout" in thread[-1]["text"]


def test_links_are_refused_when_only_named_approvers_may_decide(app):
    # given a stack whose Slack app names its approvers
    fleet = AppFleet(app)
    execution = fleet.start()
    message = fleet.request_message()

    # then the message carries no link, and a link signed by the stack is refused all the same
    assert "/decide?" not in json.dumps(message)
    value = _button(message, "approve")["value"]
    page = requests.get(f"{app.outputs['ApprovalApiUrl']}/decide?{value}", timeout=10)
    assert page.status_code == 403 and "Decide with the Slack buttons" in page.text
    assert fleet.aliases() == {name: ("1", {"2": 0.1}) for name in fleet.names}
    press(app, message, "rollback", ALICE)
    assert app.wait_for_execution(execution)["status"] == "FAILED"


def test_a_member_of_an_approving_user_group_may_decide(app):
    # given the user group S0RELEASE, named among the approvers, has carol as a member (Slack's answer to
    # usergroups.users.list, set on the local Slack sink)
    requests.post(f"{app.approval_url}/_local/slack/usergroups", json={"S0RELEASE": ["U0CAROL"]}, timeout=10)
    fleet = AppFleet(app)
    execution = fleet.start()
    message = fleet.request_message()

    # when carol presses Approve
    assert press(app, message, "approve", CAROL).status_code == 200

    # then she decided, and the bot asked Slack for the group's members
    assert app.wait_for_execution(execution)["status"] == "SUCCEEDED"
    assert fleet.item()["decision"]["M"]["decided_by"]["S"] == "carol"
