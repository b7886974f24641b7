"""Validate Input: check the input and every function's alias, lock the functions, claim the build."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aws
from canary_core.claim import open_deployment
from canary_core.config import Settings
from canary_core.errors import InvalidInput

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
lambda_client = aws.lambda_client()
sfn_client = aws.stepfunctions_client()
cloudwatch_client = aws.cloudwatch_client()  # every alarm the deployment will watch exists
table = aws.deployments_table(settings)
locks = aws.function_locks(settings)
functions = aws.functions_table(settings)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        deployment = open_deployment(
            event["input"],
            event["execution_arn"],
            settings.defaults,
            lambda_client=lambda_client,
            table=table,
            functions=functions,
            locks=locks,
            sfn_client=sfn_client,
            cloudwatch_client=cloudwatch_client,
            managed_prefix=settings.managed_function_prefix,
        )
    except InvalidInput as error:  # a warning: shown at the stack's default level, found by `canary logs`
        logger.warning("input rejected", extra={"deployment": _title(event["input"]), "problems": error.problems})
        raise
    logger.info("deployment opened", extra={"deployment": deployment.title, "functions": deployment.function_count})
    return deployment.to_state()  # ResultSelector: the state starts as {"deployment": ...}


def _title(raw: Any) -> str | None:
    """ "my-app build 760" (as Deployment.title says it) when the input names them, whatever else is wrong."""
    if isinstance(raw, dict) and isinstance(raw.get("repository"), str) and raw.get("build_no") is not None:
        return f"{raw['repository']} build {raw['build_no']}"
    return None
