"""Clean Up: an execution of the state machine ended; put back what it left and prune old versions
(EventBridge rule target, for every ending). The same function sweeps on a schedule, for executions whose
ending event never came (canary_core.sweep)."""

import os
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aws, slack
from canary_core.approval import announce_outcome
from canary_core.cleanup import CleanUpResources, clean_up, clean_up_execution
from canary_core.config import Settings
from canary_core.locks import Holder
from canary_core.model import Deployment
from canary_core.prune import DEFAULT_KEEP_VERSIONS, prune_after
from canary_core.sweep import sweep

# How long a task Lambda of the stopped execution may still be moving aliases (see cleanup._roll_back_settled)
SETTLE_SECONDS = float(os.environ.get("CLEAN_UP_SETTLE_SECONDS", "30"))
# An execution that ended more recently is left to its event by the sweep (the next sweep takes it)
SWEEP_GRACE_SECONDS = float(os.environ.get("SWEEP_GRACE_SECONDS", "120"))
# Versions of each function kept after a deployment ends (the newest; any an alias references too)
KEEP_VERSIONS = int(os.environ.get("KEEP_VERSIONS", str(DEFAULT_KEEP_VERSIONS)))

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
lambda_client = aws.lambda_client()
sfn_client = aws.stepfunctions_client()
table = aws.deployments_table(settings)
locks = aws.function_locks(settings)
functions = aws.functions_table(settings)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)

    def post_outcome(deployment: Any, outcome: dict[str, Any]) -> None:
        announce_outcome(deployment, outcome, aws.messenger(settings), table=table, now=now)

    def prune(deployment: Deployment) -> None:
        prune_after(lambda_client, table, deployment, KEEP_VERSIONS, now)

    # What the event's clean-up and the sweep's share: this stack's tables, locks, Lambda, Slack and pruning
    resources = CleanUpResources(table, functions, locks, lambda_client, post_outcome, now, prune=prune)
    if event.get("detail-type") == "Scheduled Event":

        def clean(holder: Holder, status: str, settle_seconds: float) -> dict[str, Any]:
            return clean_up_execution(
                holder.execution_arn,
                status,
                holder.repository,
                holder.build_no,
                replace(resources, settle_seconds=settle_seconds),
            )

        summary = sweep(
            locks=locks,
            sfn_client=sfn_client,
            clean=clean,
            now=now,
            grace_seconds=SWEEP_GRACE_SECONDS,
            settle_seconds=SETTLE_SECONDS,
        )
        logger.info("swept", extra=summary)
        return summary

    def rejected(title: str, execution_arn: str) -> None:
        """One Slack message naming the build and the cause; a failure to post is logged, not retried."""
        execution = sfn_client.describe_execution(executionArn=execution_arn)
        message = slack.rejected_message(title, execution.get("error"), execution.get("cause"), settings.environment)
        try:
            aws.messenger(settings).channel.post(message)
        except slack.SlackError as error:
            logger.warning("Slack message about a rejected execution not posted: %s", error)

    result = clean_up(event["detail"], replace(resources, settle_seconds=SETTLE_SECONDS), rejected=rejected)
    logger.info("execution ended", extra=result)
    return result
