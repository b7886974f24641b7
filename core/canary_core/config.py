"""Settings every function reads once, at cold start, from its environment (set by template.yaml)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from canary_core.model import Analysis, Defaults, Hooks
from canary_core.slack import RESPONSE_URL_PREFIXES


@dataclass(frozen=True)
class Settings:
    environment: str
    table_name: str
    locks_table_name: str
    functions_table_name: str
    link_secret_arn: str
    slack_webhook_secret_arn: str
    approval_api_url: str
    slack_mode: str  # webhook | app
    slack_channel: str
    slack_app_secret_arn: str
    slack_api_url: str
    slack_approvers: tuple[str, ...]  # Slack user ids allowed to decide; empty: everyone
    defaults: Defaults
    managed_function_prefix: str = "*"  # the functions this stack may deploy (template: ManagedFunctionPrefix)
    # Where replies to a button press may go: Slack's hosts, plus what the local runtime adds for its sink
    slack_response_url_prefixes: tuple[str, ...] = RESPONSE_URL_PREFIXES

    @property
    def links_allowed(self) -> bool:
        """Approve / roll-back links decide for whoever opens them: not when only named Slack users may."""
        return not (self.slack_mode == "app" and self.slack_approvers)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [name for name in _REQUIRED if not env.get(name)]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)} (set by template.yaml)")
        return cls(
            environment=env["ENVIRONMENT"],
            table_name=env["DEPLOYMENTS_TABLE"],
            locks_table_name=env["LOCKS_TABLE"],
            functions_table_name=env["FUNCTIONS_TABLE"],
            link_secret_arn=env["LINK_SECRET_ARN"],
            slack_webhook_secret_arn=env["SLACK_WEBHOOK_SECRET_ARN"],
            approval_api_url=env.get("APPROVAL_API_URL", "").rstrip("/"),
            slack_mode=env.get("SLACK_MODE", "webhook"),
            slack_channel=env.get("SLACK_CHANNEL", ""),
            slack_app_secret_arn=env.get("SLACK_APP_SECRET_ARN", ""),
            slack_api_url=env.get("SLACK_API_URL", "https://slack.com/api"),
            slack_approvers=tuple(u.strip() for u in env.get("SLACK_APPROVERS", "").split(",") if u.strip()),
            slack_response_url_prefixes=RESPONSE_URL_PREFIXES
            + tuple(p.strip() for p in env.get("SLACK_EXTRA_RESPONSE_URL_PREFIXES", "").split(",") if p.strip()),
            defaults=Defaults(
                alias=env["DEFAULT_ALIAS"],
                weight=float(env["DEFAULT_WEIGHT"]),
                pre_approve=env["DEFAULT_PRE_APPROVE"].lower() == "true",
                approval_timeout_seconds=int(env["DEFAULT_APPROVAL_TIMEOUT_SECONDS"]),
                on_timeout=env.get("DEFAULT_ON_TIMEOUT", "rollback"),
                allow_pre_approve=env.get("ALLOW_PRE_APPROVE", "false").lower() == "true",
                allow_on_timeout_promote=env.get("ALLOW_ON_TIMEOUT_PROMOTE", "false").lower() == "true",
                max_weight=float(env.get("MAX_NEW_VERSION_WEIGHT", "0.5")),
                min_promote_timeout_seconds=int(env.get("MIN_PROMOTE_TIMEOUT_SECONDS", "900")),
                analysis=Analysis(
                    mode=env.get("ANALYSIS_MODE", "advise"),
                    interval_seconds=int(env.get("ANALYSIS_INTERVAL_SECONDS", "60")),
                    min_invocations=int(env.get("ANALYSIS_MIN_INVOCATIONS", "100")),
                    confidence=float(env.get("ANALYSIS_CONFIDENCE", "0.99")),
                    max_p99_ratio=float(env.get("ANALYSIS_MAX_P99_RATIO", "1.5")),
                ),
                alarms=tuple(dict.fromkeys(a.strip() for a in env.get("ALARMS", "").split(",") if a.strip())),
                hooks=Hooks(
                    before_traffic=env.get("BEFORE_TRAFFIC_HOOK") or None,
                    after_promote=env.get("AFTER_PROMOTE_HOOK") or None,
                ),
            ),
            managed_function_prefix=env.get("MANAGED_FUNCTION_PREFIX", "*"),
        )


_REQUIRED = (
    "ENVIRONMENT",
    "DEPLOYMENTS_TABLE",
    "LOCKS_TABLE",
    "FUNCTIONS_TABLE",
    "LINK_SECRET_ARN",
    "SLACK_WEBHOOK_SECRET_ARN",
    "DEFAULT_ALIAS",
    "DEFAULT_WEIGHT",
    "DEFAULT_PRE_APPROVE",
    "DEFAULT_APPROVAL_TIMEOUT_SECONDS",
)
