"""The `canary` command: deployments from CI and a terminal (start, status, history, approve, rollback, revert),
the stack (outputs, logs, audit), and the local runtime (local, demo). One module per group."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import click

from lambda_canary.cli import deploy, local, ops
from lambda_canary.cli.context import ERROR, EXIT_CODES
from lambda_canary.cli.local import run_local  # the local runtime itself is imported when it runs

__all__ = ["main", "run_local"]

try:
    VERSION = version("lambda-canary")
except PackageNotFoundError:  # run from a source tree that is not installed
    VERSION = "unknown"


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog=EXIT_CODES + " Each command's --help has an example.",
)
@click.version_option(VERSION, "--version", prog_name="canary")
def cli() -> None:
    """Canary deployments for fleets of AWS Lambda functions.

    Every AWS command takes the aws CLI's options (--stack or --state-machine-arn, --region, --profile,
    --endpoint-url, --output table|json), so it works against `canary local` too:
    `canary status my-app 760 --stack lambda-canary-local --endpoint-url http://127.0.0.1:4566`.
    """


for command in (
    deploy.start,
    deploy.status,
    deploy.history,
    deploy.approve,
    deploy.rollback,
    ops.revert,
    ops.outputs,
    ops.logs,
    ops.audit,
    local.local_command,
    local.demo_command,
):
    cli.add_command(command)


def _spread_functions(argv: list[str]) -> list[str]:
    """`--functions A B C` (the aws CLI's habit) as click reads it: `--functions A --functions B ...`."""
    spread: list[str] = []
    taking = False
    for token in argv:
        if token == "--functions":  # noqa: S105 (an option, not a password)
            taking = True
            continue
        if taking and not token.startswith("-"):
            spread += ["--functions", token]
            continue
        taking = False
        spread.append(token)
    return spread


def _wants_json(args: list[str]) -> bool:
    pairs = zip(args, [*args[1:], ""], strict=True)
    return any(arg == "--output=json" or (arg == "--output" and following == "json") for arg, following in pairs)


def main(argv: Sequence[str] | None = None) -> int:
    args = _spread_functions(list(sys.argv[1:] if argv is None else argv))
    try:
        result = cli.main(args=args, prog_name="canary", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return ERROR
    except click.ClickException as error:
        error.show()
        if _wants_json(args):  # a script that parses stdout gets the refusal too, as one object
            click.echo(json.dumps({"error": error.format_message(), "exit_code": error.exit_code}, indent=2))
        raise SystemExit(error.exit_code) from None
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
