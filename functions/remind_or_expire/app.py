"""Remind Or Expire: a wait ended with no decision; post the reminder that is due, or decide by the timeout policy."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aws
from canary_core.approval import remind_or_expire
from canary_core.config import Settings
from canary_core.model import Deployment

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
table = aws.deployments_table(settings)
functions = aws.functions_table(settings)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    update = remind_or_expire(
        functions.load(Deployment.from_state(state["deployment"])),
        state["approval"],
        aws.messenger(settings),
        table=table,
        now=datetime.now(UTC),
    )
    return {**state, **update}
