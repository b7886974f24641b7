"""Request Approval: post the request for a decision on the step the aliases are at (or approve a manual gate
when pre-approved); plan the wait. Returns the plan, kept at `$.approval`."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aws
from canary_core.approval import request_decision
from canary_core.config import Settings
from canary_core.model import Deployment

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
table = aws.deployments_table(settings)
functions = aws.functions_table(settings)
sfn_client = aws.stepfunctions_client()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    traffic = state["traffic"]
    plan = request_decision(
        functions.load(Deployment.from_state(state["deployment"])),
        aws.messenger(settings),
        table=table,
        sfn_client=sfn_client,
        now=datetime.now(UTC),
        step=int(traffic["step"]),
        step_started_at=int(traffic["shifted_at"]),
    )
    return plan.as_state()
