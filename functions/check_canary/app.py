"""Check Canary: a wait ended with no decision. Read the alarms and the metrics when due, move an auto gate on,
post the reminder that is due, or decide by the timeout policy. Returns the next wait's plan (`$.approval`)."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aws
from canary_core.approval import check_canary
from canary_core.config import Settings
from canary_core.evidence import gatherer
from canary_core.model import WorkflowState

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
table = aws.deployments_table(settings)
functions = aws.functions_table(settings)
gather = gatherer(aws.cloudwatch_client())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    workflow = WorkflowState.of(state)
    assert workflow.approval is not None  # the state machine checks only after Request Approval
    plan = check_canary(
        functions.load(workflow.deployment),
        workflow.approval,
        aws.messenger(settings),
        table=table,
        gather=gather,
        now=datetime.now(UTC),
    )
    return plan.as_state()
