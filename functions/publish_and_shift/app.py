"""Publish And Shift: publish the code CI uploaded as a new version of every function, run the before-traffic
hook, and send each new version the first step's weight of its alias (publishing and shifting overlap: each
Lambda API has a quota of its own). As Next Step (the event names `from_step`), it moves every new version to
the following step's weight.

Returns what the state keeps at `$.traffic`: the step the aliases are at, its weight and when it was set.
"""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aliases, aws
from canary_core.config import Settings
from canary_core.executions import still_running_check
from canary_core.hooks import HOOK_CLIENT_CONFIG, before_traffic
from canary_core.model import Deployment

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
lambda_client = aws.lambda_client()
hook_client = aws.lambda_client(HOOK_CLIENT_CONFIG)  # a hook may run for minutes, and runs once
table = aws.deployments_table(settings)
functions = aws.functions_table(settings)
sfn_client = aws.stepfunctions_client()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deployment = functions.load(Deployment.from_state(event["deployment"]))
    still_running = still_running_check(sfn_client, deployment.execution_arn)
    if "from_step" in event:
        step = int(event["from_step"]) + 1
        table.open_step(deployment, step, datetime.now(UTC))
        aliases.move_to_step(lambda_client, deployment, step, still_running)
        return _traffic(deployment, step)
    table.save_state(deployment)  # before any alias moves: Clean Up rolls back what this step moved

    def hook(published: Deployment) -> None:  # raises BeforeTrafficHookFailed: no alias moves
        before_traffic(hook_client, published, table, datetime.now(UTC))

    deployment = aliases.publish_and_shift(
        lambda_client,
        deployment,
        record=functions.record_new_versions,  # each new version is kept before its alias moves
        still_running=still_running,
        before_shifting=hook if deployment.hooks.before_traffic else None,
    )
    table.note_pinned(deployment, datetime.now(UTC))
    return _traffic(deployment, 0)


def _traffic(deployment: Deployment, step: int) -> dict[str, Any]:
    return {"step": step, "weight": deployment.steps[step].weight, "shifted_at": int(datetime.now(UTC).timestamp())}
