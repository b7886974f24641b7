"""Clean Up: an execution of the state machine ended; put back what it left (EventBridge rule target)."""

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aws
from canary_core.approval import announce_outcome
from canary_core.cleanup import clean_up
from canary_core.config import Settings

# How long a task Lambda of the stopped execution may still be moving aliases (see cleanup._roll_back_settled)
SETTLE_SECONDS = float(os.environ.get("CLEAN_UP_SETTLE_SECONDS", "30"))

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
lambda_client = aws.lambda_client()
table = aws.deployments_table(settings)
locks = aws.function_locks(settings)
functions = aws.functions_table(settings)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)

    def post_outcome(deployment: Any, outcome: dict[str, Any]) -> None:
        announce_outcome(deployment, outcome, aws.messenger(settings), table=table, now=now)

    result = clean_up(
        event["detail"],
        table=table,
        functions=functions,
        locks=locks,
        lambda_client=lambda_client,
        notify=post_outcome,
        now=now,
        settle_seconds=SETTLE_SECONDS,
    )
    logger.info("execution ended", extra=result)
    return result
