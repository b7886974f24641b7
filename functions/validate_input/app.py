"""Validate Input: check the execution input and every function's alias, then claim the build."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aws
from canary_core.config import Settings
from canary_core.model import Deployment
from canary_core.validation import parse_request, resolve_functions

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
lambda_client = aws.lambda_client()
table = aws.deployments_table(settings)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event["input"], settings.defaults)
    targets = resolve_functions(lambda_client, request)
    deployment = Deployment(
        repository=request.repository,
        build_no=request.build_no,
        alias=request.alias,
        weight=request.weight,
        pre_approve=request.pre_approve,
        build_url=request.build_url,
        approval_timeout_seconds=request.approval_timeout_seconds,
        execution_arn=event["execution_arn"],
        functions=tuple(targets),
    )
    table.open(deployment, datetime.now(UTC))
    logger.info("deployment opened", extra={"deployment": deployment.title, "functions": len(targets)})
    return {"deployment": deployment.to_state()}
