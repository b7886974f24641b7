"""Check an execution input before anything is touched.

Two steps: `parse_request` checks the fields (pure, no AWS), `resolve_functions` looks every function's
alias up. Each collects every problem it finds and raises one `InvalidInput` that names the field or
function and the fix, so CI gets the whole list at once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, cast

from botocore.exceptions import ClientError

from canary_core.aliases import failed_update
from canary_core.errors import InvalidInput
from canary_core.fanout import fan_out
from canary_core.model import LATEST, Defaults, FunctionTarget

MAX_FUNCTIONS = 1_000  # the state and every item stay within AWS limits up to this (canary_core.targets)
MAX_BUILD_NO = 10**15  # far beyond any CI counter, well inside what a DynamoDB number holds
MAX_APPROVAL_TIMEOUT_SECONDS = 7 * 24 * 3600  # links and reminders stop making sense after a week
KNOWN_FIELDS = (
    "repository",
    "build_no",
    "functions",
    "alias",
    "weight",
    "pre_approve",
    "build_url",
    "approval_timeout_seconds",
    "supersede",
    "on_timeout",
)
ON_TIMEOUT_POLICIES = ("rollback", "promote")
FUNCTION_FIELDS = ("name", "code_sha256")
_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
_ALIAS = re.compile(r"^(?!^[0-9]+$)[a-zA-Z0-9-_]{1,128}$")
_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
_FUNCTION_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>.+))?$"
)
_CODE_SHA256 = re.compile(r"[A-Za-z0-9+/]{43}=")
_URL = re.compile(r"^https?://[^\s<>|\"']+$")  # no characters that would end a Slack link


@dataclass(frozen=True)
class DeploymentRequest:
    repository: str
    build_no: int
    functions: tuple[str, ...]  # names or ARNs, as given
    code_sha256: dict[str, str]  # {function as given: the CodeSha256 CI built}, for the functions that say
    alias: str
    weight: float
    pre_approve: bool
    build_url: str | None
    approval_timeout_seconds: int
    supersede: bool = False
    on_timeout: str = "rollback"


def parse_request(raw: Any, defaults: Defaults, managed_prefix: str = "*") -> DeploymentRequest:
    """The request in `raw`, or InvalidInput listing every problem. `managed_prefix` is the stack's
    ManagedFunctionPrefix: the functions it may deploy (its IAM scope), "*" for any."""
    if not isinstance(raw, dict):
        raise InvalidInput(['input: must be a JSON object such as {"repository": ..., "build_no": ...}'])
    problems: list[str] = []
    for name in raw:
        if name not in KNOWN_FIELDS:
            close = difflib.get_close_matches(name, KNOWN_FIELDS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known fields: {', '.join(KNOWN_FIELDS)}"
            problems.append(f"{name}: unknown field; {hint}")

    repository = raw.get("repository")
    if repository is None:
        problems.append('repository: missing; add the repository\'s name, e.g. "repository": "my-app"')
    elif not isinstance(repository, str) or not _REPOSITORY.fullmatch(repository):
        problems.append(f"repository: {repository!r} is not a repository name; use letters, digits, '.', '_', '-', '/'")

    build_no = raw.get("build_no")
    if build_no is None:
        problems.append('build_no: missing; add the CI build number, e.g. "build_no": 760')
    elif isinstance(build_no, str) and re.fullmatch(r"[0-9]{1,20}", build_no):
        build_no = int(build_no)
    if build_no is not None and (
        isinstance(build_no, bool) or not isinstance(build_no, int) or not 1 <= build_no <= MAX_BUILD_NO
    ):
        problems.append(f"build_no: {build_no!r} is not a build number; pass a whole number from 1 to {MAX_BUILD_NO}")

    functions, code_sha256 = _parse_functions(raw.get("functions"), problems)
    problems.extend(outside_prefix(functions, managed_prefix))

    alias = raw.get("alias", defaults.alias)
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        problems.append(f"alias: {alias!r} is not an alias name; use letters, digits, '-' or '_' (e.g. \"live\")")

    weight = raw.get("weight", defaults.weight)
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        problems.append(f"weight: {weight!r} is not a number; pass the share of traffic for the new version")
    elif not 0 <= weight <= 1:
        problems.append(f"weight: {weight} is outside 0..1; pass a fraction such as 0.1 for 10% of traffic")

    pre_approve = raw.get("pre_approve", defaults.pre_approve)
    if not isinstance(pre_approve, bool):
        problems.append(f"pre_approve: {pre_approve!r} is not true or false")

    build_url = raw.get("build_url")
    if build_url is not None and (not isinstance(build_url, str) or not _URL.fullmatch(build_url)):
        problems.append(
            f"build_url: {build_url!r} is not an http(s) URL without spaces, quotes, '<', '>' or '|'; "
            "pass the CI build's page or leave it out"
        )

    timeout = raw.get("approval_timeout_seconds", defaults.approval_timeout_seconds)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= MAX_APPROVAL_TIMEOUT_SECONDS:
        problems.append(
            f"approval_timeout_seconds: {timeout!r} is not allowed; pass whole seconds from 1 to "
            f"{MAX_APPROVAL_TIMEOUT_SECONDS} (a week)"
        )

    supersede = raw.get("supersede", False)
    if not isinstance(supersede, bool):
        problems.append(f"supersede: {supersede!r} is not true or false")

    on_timeout = raw.get("on_timeout", defaults.on_timeout)
    if on_timeout not in ON_TIMEOUT_POLICIES:
        problems.append(f'on_timeout: {on_timeout!r} is not a policy; pass "rollback" or "promote"')

    if not problems:
        problems.extend(_policy_problems(raw, defaults, float(weight), pre_approve, timeout, on_timeout))
    if problems:
        raise InvalidInput(problems)
    return DeploymentRequest(
        repository=cast(str, repository),
        build_no=cast(int, build_no),
        functions=functions,
        code_sha256=code_sha256,
        alias=alias,
        weight=float(weight),
        pre_approve=pre_approve,
        build_url=build_url,
        approval_timeout_seconds=timeout,
        supersede=supersede,
        on_timeout=on_timeout,
    )


def _policy_problems(
    raw: dict[str, Any], defaults: Defaults, weight: float, pre_approve: bool, timeout: int, on_timeout: str
) -> list[str]:
    """What the stack's parameters forbid: whoever can start an execution must not be able to skip the
    approval the stack requires. Each problem names the parameter that forbids it."""
    problems: list[str] = []
    if pre_approve and not (defaults.pre_approve or defaults.allow_pre_approve):
        problems.append(
            "pre_approve: this stack requires a person's approval (its PreApprove and AllowPreApprove parameters "
            "are false); leave pre_approve out, or deploy the stack with AllowPreApprove=true"
        )
    if on_timeout == "promote" and not (defaults.on_timeout == "promote" or defaults.allow_on_timeout_promote):
        problems.append(
            'on_timeout: "promote" is not allowed on this stack (its OnTimeout parameter is rollback and '
            "AllowOnTimeoutPromote is false); leave on_timeout out, or deploy the stack with AllowOnTimeoutPromote=true"
        )
    if weight > defaults.max_weight:
        given = f"{weight:g}" if "weight" in raw else f"{weight:g} (the stack's NewVersionWeight)"
        problems.append(
            f"weight: {given} is above the stack's MaxNewVersionWeight ({defaults.max_weight:g}); pass at most "
            f"{defaults.max_weight:g}, or raise MaxNewVersionWeight on the stack"
        )
    if on_timeout == "promote" and not pre_approve and timeout < defaults.min_promote_timeout_seconds:
        given = f"{timeout}" if "approval_timeout_seconds" in raw else f"{timeout} (the stack's ApprovalTimeoutSeconds)"
        problems.append(
            f"approval_timeout_seconds: {given} is shorter than the stack's MinPromoteTimeoutSeconds "
            f"({defaults.min_promote_timeout_seconds}) while the deadline promotes; pass at least "
            f'{defaults.min_promote_timeout_seconds}, or "on_timeout": "rollback"'
        )
    return problems


def _parse_functions(functions: Any, problems: list[str]) -> tuple[tuple[str, ...], dict[str, str]]:
    if functions is None:
        problems.append("functions: missing; list the functions to deploy, by name or ARN")
        return (), {}
    if not isinstance(functions, list) or not functions:
        problems.append("functions: must be a non-empty list of function names or ARNs")
        return (), {}
    code_sha256: dict[str, str] = {}
    entries: list[Any] = []
    for index, entry in enumerate(functions):
        if isinstance(entry, dict):
            unknown = set(entry) - set(FUNCTION_FIELDS)
            sha = entry.get("code_sha256")
            if unknown or not isinstance(entry.get("name"), str):
                problems.append(
                    f'functions[{index}]: an object needs "name" and may have "code_sha256" '
                    f'(got {sorted(entry)}); e.g. {{"name": "orders-api", "code_sha256": "..."}}'
                )
                entries.append(None)
                continue
            if sha is not None and (not isinstance(sha, str) or not _CODE_SHA256.fullmatch(sha)):
                problems.append(
                    f"functions[{index}].code_sha256: {sha!r} is not a CodeSha256; pass the base64 SHA-256 "
                    "of the deployment package, as `aws lambda get-function-configuration` shows it"
                )
            elif sha is not None:
                code_sha256[entry["name"]] = sha
            entries.append(entry["name"])
        else:
            entries.append(entry)
    functions = entries
    if len(functions) > MAX_FUNCTIONS:
        problems.append(f"functions: {len(functions)} listed, at most {MAX_FUNCTIONS}; split the deployment")
    seen: dict[str, str] = {}
    for index, entry in enumerate(functions):
        if entry is None:
            continue
        if not isinstance(entry, str):
            problems.append(f"functions[{index}]: {entry!r} is not a function name or ARN")
            continue
        name = function_name(entry)
        if name is None:
            problems.append(
                f"functions[{index}]: {entry!r} is not a function name or an unqualified function ARN; "
                'pass e.g. "orders-api" or "arn:aws:lambda:us-east-1:123456789012:function:orders-api"'
                " (no version or alias suffix)"
            )
        elif name in seen:
            problems.append(f"functions[{index}]: {entry!r} repeats {seen[name]!r}; list each function once")
        else:
            seen[name] = entry
    return tuple(e for e in functions if isinstance(e, str)), code_sha256


def outside_prefix(functions: tuple[str, ...], managed_prefix: str) -> list[str]:
    """A problem for each function whose name does not start with the stack's ManagedFunctionPrefix."""
    if managed_prefix in ("", "*"):
        return []
    return [
        f"functions: {entry!r} is outside this stack's ManagedFunctionPrefix ({managed_prefix!r}): the stack may "
        f"deploy only functions whose names start with it; name the function {managed_prefix}..., or deploy "
        "the stack with a ManagedFunctionPrefix that covers it"
        for entry in functions
        if not (function_name(entry) or "").startswith(managed_prefix)
    ]


def function_name(entry: str) -> str | None:
    """The function's name for a name or an unqualified ARN; None for anything else."""
    if _FUNCTION_NAME.fullmatch(entry):
        return entry
    match = _FUNCTION_ARN.fullmatch(entry)
    if match and not match.group("qualifier"):
        return match.group("name")
    return None


def resolve_functions(
    lambda_client: Any, request: DeploymentRequest, *, splits: dict[str, str] | None = None
) -> list[FunctionTarget]:
    """Look up each function's alias; record the version it runs now (the one a roll back returns to).

    An alias that already splits traffic is refused, or, when `splits` is given, noted there as
    {function: problem} for the caller to decide (it may belong to a deployment about to be superseded).
    """

    def lookup(entry: str) -> FunctionTarget:
        alias = lambda_client.get_alias(FunctionName=entry, Name=request.alias)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        if weights:
            split = ", ".join(f"v{v} at {w:.0%}" for v, w in weights.items())
            problem = (
                f"functions: {entry!r} alias '{request.alias}' already splits traffic ({split}); "
                "finish or roll back that canary first"
            )
            if splits is None:
                raise InvalidInput([problem])
            splits[entry] = problem
        function_arn = alias["AliasArn"].rsplit(":", 1)[0]
        # GetFunction: a quota of its own (100/s), so this costs no share of GetAlias's 15/s
        latest = lambda_client.get_function(FunctionName=function_arn)["Configuration"]
        failure = failed_update(latest)
        if failure:
            raise InvalidInput(
                [
                    f"functions: {entry!r} last update failed ({failure}), so Lambda kept the code and settings "
                    "from before it; fix the cause, upload the build again, wait for `aws lambda wait "
                    "function-updated`, then start a new execution"
                ]
            )
        expected_sha = request.code_sha256.get(entry)
        if expected_sha is not None and latest["CodeSha256"] != expected_sha:
            raise InvalidInput(
                [
                    f"functions: {entry!r} code is not the code CI built (CodeSha256 {latest['CodeSha256']}, "
                    f"expected {expected_sha}); upload the build's package again, then start a new execution"
                ]
            )
        if alias["FunctionVersion"] != LATEST:
            current = lambda_client.get_function_configuration(
                FunctionName=function_arn, Qualifier=alias["FunctionVersion"]
            )
            mismatch = weighted_alias_mismatch(latest, current)
            if mismatch:
                raise InvalidInput(
                    [
                        f"functions: {entry!r} {mismatch} than version {alias['FunctionVersion']} (alias "
                        f"'{request.alias}' now), and Lambda splits an alias's traffic only between versions with "
                        "the same execution role and dead-letter queue; put the setting back, or release this change "
                        "without a canary (publish, then `aws lambda update-alias`)"
                    ]
                )
        return FunctionTarget(
            name=function_arn.rsplit(":", 1)[1],
            function_arn=function_arn,
            old_version=alias["FunctionVersion"],
            code_sha256=expected_sha,
        )

    results = fan_out(lookup, request.functions)
    problems: list[str] = []
    targets: list[FunctionTarget] = []
    for entry, result in zip(request.functions, results, strict=True):
        if isinstance(result, FunctionTarget):
            targets.append(result)
        else:
            problems.append(_lookup_problem(lambda_client, entry, request.alias, result))
    if problems:
        raise InvalidInput(problems)
    return targets


def weighted_alias_mismatch(latest: dict[str, Any], current: dict[str, Any]) -> str | None:
    """What keeps Lambda from weighting an alias between `current` and a version published from `latest`: they
    must share the execution role and the dead-letter configuration (or both have none)."""

    def dead_letter(configuration: dict[str, Any]) -> str | None:
        return (configuration.get("DeadLetterConfig") or {}).get("TargetArn") or None

    if latest.get("Role") != current.get("Role"):
        return f"$LATEST runs as role {latest.get('Role')}, a different execution role"
    if dead_letter(latest) != dead_letter(current):
        return f"$LATEST has dead-letter queue {dead_letter(latest) or 'none'}, a different dead-letter configuration"
    return None


def _lookup_problem(lambda_client: Any, entry: str, alias: str, error: BaseException) -> str:
    if isinstance(error, InvalidInput):
        return str(error)
    if isinstance(error, ClientError) and error.response["Error"]["Code"] == "ResourceNotFoundException":
        try:
            lambda_client.get_function_configuration(FunctionName=entry)
        except ClientError:
            return f"functions: {entry!r} does not exist in this account and region; check the name"
        return (
            f"functions: {entry!r} has no alias '{alias}'; create it once with "
            f"`aws lambda create-alias --function-name {entry} --name {alias} --function-version N`, N being the "
            "version `aws lambda publish-version` gives for the code that runs now"
        )
    if isinstance(error, ClientError) and error.response["Error"]["Code"] in ("AccessDeniedException", "AccessDenied"):
        return (
            f"functions: {entry!r} may not be deployed by this stack (access denied); its name must start with "
            "the stack's ManagedFunctionPrefix parameter"
        )
    return f"functions: {entry!r} could not be read: {error}"
