"""`python -m lambda_canary.bypass`: the audit on its own (the `canary audit` command calls the same function)."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from pathlib import Path

import boto3
from botocore.exceptions import ProfileNotFound

from lambda_canary.bypass import cli_audit


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lambda_canary.bypass",
        description="Find everything that invokes a function under canary without its alias. "
        "Exit code 0: nothing bypasses; 1: findings; 2: bad arguments; 6: no function with an alias, nothing checked.",
        epilog="example: python -m lambda_canary.bypass --template template.yaml --terraform infra/ --output json",
    )
    parser.add_argument("--template", type=Path, help="a SAM or CloudFormation template (YAML or JSON)")
    parser.add_argument("--terraform", type=Path, help="a directory of Terraform .tf files")
    parser.add_argument("--functions", nargs="+", metavar="FUNCTION", help="function names or ARNs in the account")
    parser.add_argument("--stack", help="the canary's stack: audit every function in its ManagedFunctionPrefix")
    parser.add_argument("--alias", default="live", help="the alias deployments move (default live)")
    parser.add_argument("--output", default="table", help="table (default) or json")
    parser.add_argument("--region", help="for --functions / --stack (default: AWS_REGION or the profile's)")
    parser.add_argument("--profile", help="for --functions / --stack (default: AWS_PROFILE)")
    parser.add_argument("--endpoint-url", help="another AWS endpoint, e.g. canary local's (default: AWS_ENDPOINT_URL)")
    args = parser.parse_args(argv)
    clients = None
    if args.functions or args.stack:
        try:
            session = boto3.Session(region_name=args.region, profile_name=args.profile)
        except ProfileNotFound:
            parser.exit(2, f"canary audit: --profile {args.profile}: no such profile in the AWS config files\n")
        clients = functools.partial(session.client, endpoint_url=args.endpoint_url)
    return cli_audit(args.template, args.terraform, args.functions, args.stack, args.alias, args.output, clients)


if __name__ == "__main__":
    raise SystemExit(main())
