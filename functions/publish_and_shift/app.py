"""Publish And Shift: publish the code CI uploaded as a new version of every function and send each the
canary weight of its alias, the two overlapping (each Lambda API has a quota of its own)."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aliases, aws
from canary_core.config import Settings
from canary_core.executions import still_running_check
from canary_core.model import Deployment

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
lambda_client = aws.lambda_client()
table = aws.deployments_table(settings)
functions = aws.functions_table(settings)
sfn_client = aws.stepfunctions_client()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deployment = functions.load(Deployment.from_state(state["deployment"]))
    table.save_state(deployment)  # before any alias moves: Clean Up rolls back what this step moved
    deployment = aliases.publish_and_shift(
        lambda_client,
        deployment,
        record=functions.record_new_versions,  # each new version is kept before its alias moves
        still_running=still_running_check(sfn_client, deployment.execution_arn),
    )
    table.note_pinned(deployment, datetime.now(UTC))
    return state
