"""Record Outcome: write how the deployment ended to the table and post it to Slack. Returns `$.outcome`."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aws
from canary_core.approval import announce_outcome
from canary_core.config import Settings
from canary_core.model import WorkflowState
from canary_core.outcome import aliases_may_be_split, describe_outcome

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = Settings.from_env()
table = aws.deployments_table(settings)
locks = aws.function_locks(settings)
functions = aws.functions_table(settings)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    workflow = WorkflowState.of(state)
    deployment = functions.load(workflow.deployment)
    outcome = describe_outcome(workflow.loaded(deployment))
    now = datetime.now(UTC)
    table.record_outcome(deployment, outcome, now)
    if not aliases_may_be_split(outcome):  # else kept: Clean Up or the sweeper puts the aliases back
        locks.release(deployment)
    announce_outcome(deployment, outcome, aws.messenger(settings), table=table, now=now)
    metrics.add_dimension(name="Environment", value=settings.environment)
    metrics.add_metric(name=f"Deployments{outcome['status'].title().replace('_', '')}", unit=MetricUnit.Count, value=1)
    logger.info("deployment ended", extra={"deployment": deployment.title, "status": outcome["status"]})
    return outcome
