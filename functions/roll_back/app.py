"""Roll Back: every alias runs the version it ran before, alone; aliases changed by someone else are left.
Returns `$.rollback`."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import aliases, aws
from canary_core.config import Settings
from canary_core.limits import first
from canary_core.model import Deployment

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
lambda_client = aws.lambda_client()
functions = aws.functions_table(settings)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deployment = functions.load(Deployment.from_state(event["deployment"]))
    _, changed_outside = aliases.roll_back(lambda_client, deployment)
    if changed_outside:
        logger.warning("aliases changed outside the workflow were left as they are", extra=changed_outside)
    # The state names a few of them (it stays small for 1,000 functions); the count says how many in all.
    return {"changed_outside": first(changed_outside), "changed_outside_count": len(changed_outside)}
