"""The project the local runtime builds its stack from, and the name it gives that stack. Imports nothing of
the emulator: the CLI reads it before it knows whether the local runtime's packages are installed."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
STACK_NAME = "lambda-canary-local"
CHECKOUT = ("template.yaml", "functions", "statemachine", "core")  # what the local stack is built from


def missing_from_checkout(root: Path = PROJECT_ROOT) -> list[str]:
    """What of the project's checkout is not there (a package installed with pip has none of it)."""
    return [name for name in CHECKOUT if not (root / name).exists()]
