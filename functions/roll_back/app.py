"""Roll Back: every alias runs the version it ran before, alone; aliases changed by someone else are left."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aliases, aws
from canary_core.model import Deployment

logger = Logger()
tracer = Tracer()
lambda_client = aws.lambda_client()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deployment, changed_outside = aliases.roll_back(lambda_client, Deployment.from_state(state["deployment"]))
    if changed_outside:
        logger.warning("aliases changed outside the workflow were left as they are", extra=changed_outside)
    return {**state, "rolled_back": True, "changed_outside": changed_outside, "deployment": deployment.to_state()}
