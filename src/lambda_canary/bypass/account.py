"""stub"""

from collections.abc import Sequence
from typing import Any

from lambda_canary.bypass.report import Finding


def find_in_account(session_or_clients: Any, functions: Sequence[str], alias: str) -> list[Finding]:
    return []


def functions_of_stack(clients: Any, stack: str, alias: str) -> list[str]:
    return []
