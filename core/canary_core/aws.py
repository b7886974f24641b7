"""AWS clients and secrets for the Lambda functions, created once per cold start.

boto3 picks its endpoint from the environment (AWS_ENDPOINT_URL), so the same code runs on AWS and on
the local runtime.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters
from botocore.config import Config
from botocore.exceptions import ClientError

from canary_core import links
from canary_core.approval import Messenger
from canary_core.config import Settings
from canary_core.fanout import LAMBDA_CLIENT_CONFIG
from canary_core.locks import FunctionLocks
from canary_core.slack import AppChannel, UnavailableChannel, WebhookChannel
from canary_core.targets import FunctionsTable
from canary_core.trail import DeploymentsTable

SECRET_CACHE_SECONDS = 300


def lambda_client(config: Config = LAMBDA_CLIENT_CONFIG) -> Any:
    return boto3.client("lambda", config=config)


def cloudwatch_client() -> Any:
    return boto3.client("cloudwatch")


def stepfunctions_client() -> Any:
    return boto3.client("stepfunctions")


def deployments_table(settings: Settings) -> DeploymentsTable:
    return DeploymentsTable(boto3.resource("dynamodb").Table(settings.table_name))


def functions_table(settings: Settings) -> FunctionsTable:
    return FunctionsTable(boto3.resource("dynamodb").Table(settings.functions_table_name))


def function_locks(settings: Settings) -> FunctionLocks:
    return FunctionLocks(boto3.resource("dynamodb").Table(settings.locks_table_name))


def link_secret(settings: Settings) -> bytes:
    return str(parameters.get_secret(settings.link_secret_arn, max_age=SECRET_CACHE_SECONDS)).encode()


def link_secrets(settings: Settings, key: str | None = None) -> tuple[bytes, ...]:
    """The keys a link may be signed with: the current one, then the previous one while Secrets Manager holds
    it (AWSPREVIOUS, after `put-secret-value`). A link naming a key neither cached one has (rotated within the
    cache's five minutes) makes both be read again."""
    fresh = bool(key) and key not in {links.key_id(k) for k in _cached_link_secrets(settings)}
    return _cached_link_secrets(settings, force=fresh)


def _cached_link_secrets(settings: Settings, force: bool = False) -> tuple[bytes, ...]:
    current = str(
        parameters.get_secret(settings.link_secret_arn, max_age=SECRET_CACHE_SECONDS, force_fetch=force)
    ).encode()
    cached = _previous_link_secret.get(settings.link_secret_arn)
    if force or cached is None or cached[0] <= time.monotonic():
        try:
            value = boto3.client("secretsmanager").get_secret_value(
                SecretId=settings.link_secret_arn, VersionStage="AWSPREVIOUS"
            )
            previous: bytes | None = str(value["SecretString"]).encode()
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":  # no previous key: fine
                raise
            previous = None
        cached = (time.monotonic() + SECRET_CACHE_SECONDS, previous)
        _previous_link_secret[settings.link_secret_arn] = cached
    previous = cached[1]
    return (current, previous) if previous is not None and previous != current else (current,)


# {secret ARN: (monotonic time the value goes stale, the AWSPREVIOUS value or None)}; Powertools' cache
# keys by name only, so the previous version is cached here
_previous_link_secret: dict[str, tuple[float, bytes | None]] = {}


def slack_webhook_url(settings: Settings) -> str:
    return str(parameters.get_secret(settings.slack_webhook_secret_arn, max_age=SECRET_CACHE_SECONDS))


def slack_app_secrets(settings: Settings) -> dict[str, str]:
    """{"bot_token": ..., "signing_secret": ...} of the Slack app."""
    value = parameters.get_secret(settings.slack_app_secret_arn, transform="json", max_age=SECRET_CACHE_SECONDS)
    return {str(k): str(v) for k, v in dict(value).items()}


def slack_channel(
    settings: Settings, read_secret: Callable[[str], str] | None = None
) -> WebhookChannel | AppChannel | UnavailableChannel:
    """The stack's Slack channel. `read_secret(arn)`: how its secret is read (the CLI's own client); by
    default Powertools' cached read."""
    try:
        if settings.slack_mode == "app":
            if read_secret:
                bot_token = str(json.loads(read_secret(settings.slack_app_secret_arn))["bot_token"])
            else:
                bot_token = slack_app_secrets(settings)["bot_token"]
            return AppChannel(bot_token, settings.slack_channel, settings.slack_api_url)
        return WebhookChannel(
            read_secret(settings.slack_webhook_secret_arn) if read_secret else slack_webhook_url(settings)
        )
    except Exception as error:  # noqa: BLE001 - a Slack problem must not fail a deployment
        return UnavailableChannel(f"Slack settings unreadable: {type(error).__name__}: {error}")


def messenger(settings: Settings) -> Messenger:
    """The stack's Slack channel and link signing, as its settings say."""
    return Messenger(
        channel=slack_channel(settings),
        link_secret=partial(link_secret, settings),
        approval_api_url=settings.approval_api_url,
        environment=settings.environment,
        interactive=settings.slack_mode == "app",
        show_links=settings.links_allowed,
    )
