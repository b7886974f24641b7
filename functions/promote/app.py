"""Promote: every alias runs the new version alone; then the after-promote hook runs (its failure raises, and
the state machine rolls the promotion back). Returns `$.promotion`."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aliases, aws
from canary_core.config import Settings
from canary_core.executions import still_running_check
from canary_core.hooks import HOOK_CLIENT_CONFIG, after_promote
from canary_core.model import Deployment

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
lambda_client = aws.lambda_client()
hook_client = aws.lambda_client(HOOK_CLIENT_CONFIG)  # a hook may run for minutes, and runs once
functions = aws.functions_table(settings)
table = aws.deployments_table(settings)
sfn_client = aws.stepfunctions_client()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deployment = functions.load(Deployment.from_state(event["deployment"]))
    aliases.promote(lambda_client, deployment, still_running_check(sfn_client, deployment.execution_arn))
    after_promote(hook_client, deployment, table, datetime.now(UTC))
    return {"promoted": True}
