"""One function at a time, for tests: the demo's sample fleet (lambda_canary.demo) creates and ships many."""

from __future__ import annotations

from typing import Any

from lambda_canary.demo import ALIAS, create_functions_with_alias, ship_codes


def create_function_with_alias(lambda_client: Any, name: str, alias: str = ALIAS) -> None:
    """Version 1 of a function, its alias pinned to it: the state a service is in after its first release."""
    create_functions_with_alias(lambda_client, [name], alias)


def ship_code(lambda_client: Any, name: str, build: int) -> None:
    """What CI does before it starts an execution: upload the new code to $LATEST, wait for the update."""
    ship_codes(lambda_client, [name], build)
