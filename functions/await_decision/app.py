"""Await Decision: called with .waitForTaskToken; store the token, or resume at once if already decided.

The task token is never logged.
"""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aws
from canary_core.approval import await_decision
from canary_core.config import Settings
from canary_core.model import Deployment

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
table = aws.deployments_table(settings)
sfn_client = aws.stepfunctions_client()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deployment = Deployment.from_state(event["deployment"])
    return await_decision(deployment, event["task_token"], table=table, sfn_client=sfn_client)
