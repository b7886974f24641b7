"""Publish Versions: publish the code CI uploaded as a new version of every function."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aliases, aws
from canary_core.config import Settings
from canary_core.model import Deployment

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
lambda_client = aws.lambda_client()
functions = aws.functions_table(settings)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deployment = aliases.publish_versions(lambda_client, functions.load(Deployment.from_state(state["deployment"])))
    functions.save(deployment)  # the new versions, for every later step
    return state
