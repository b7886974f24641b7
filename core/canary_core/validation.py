"""Check an execution input before anything is touched.

Two steps: `parse_request` checks the fields (pure, no AWS), `resolve_functions` looks every function's
alias up. Each collects every problem it finds and raises one `InvalidInput` that names the field or
function and the fix, so CI gets the whole list at once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, cast

from botocore.exceptions import ClientError

from canary_core.aliases import failed_update
from canary_core.errors import InvalidInput
from canary_core.fanout import fan_out
from canary_core.model import ANALYSIS_MODES, GATES, LATEST, Analysis, Defaults, FunctionTarget, Hooks, Step

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
    "steps",
    "analysis",
    "alarms",
    "hooks",
    "irreversible",
)
ON_TIMEOUT_POLICIES = ("rollback", "promote")
FUNCTION_FIELDS = ("name", "code_sha256")
STEP_FIELDS = ("weight", "gate", "bake_seconds")
ANALYSIS_FIELDS = ("mode", "interval_seconds", "min_invocations", "confidence", "max_p99_ratio")
HOOK_FIELDS = ("before_traffic", "after_promote")
MAX_STEPS = 10
MAX_BAKE_SECONDS = 24 * 3600
MAX_ALARMS = 100  # an input's own; the stack's Alarms come on top
MAX_MIN_INVOCATIONS_FACTOR = 10  # an input may ask for at most this many times the stack's minimum sample
MAX_INTERVAL_SECONDS = 3600
_ALARM_NAME_LENGTH = 255  # CloudWatch's limit (PutMetricAlarm AlarmName)
# Each analysis setting an input may change, only in the direction that is stricter with the new version:
# {field: (the stack parameter that bounds it, direction, why that direction is stricter)}
_STRICTER = {
    "interval_seconds": ("AnalysisIntervalSeconds", "at most", "a shorter interval sees a bad version sooner"),
    "min_invocations": ("AnalysisMinInvocations", "at least", "a larger sample: more evidence before an auto gate"),
    "confidence": ("AnalysisConfidence", "at most", "a lower confidence calls a higher error rate unhealthy sooner"),
    "max_p99_ratio": ("AnalysisMaxP99Ratio", "at most", "a lower ratio calls a slower version unhealthy sooner"),
}
# {field: (whole number?, lowest, highest, what it is)}: the ranges template.yaml gives the stack's parameters
_ANALYSIS_RANGES = {
    "interval_seconds": (True, 1, MAX_INTERVAL_SECONDS, "seconds"),
    "min_invocations": (True, 1, 10_000_000, "invocations"),
    "confidence": (False, 0.5, 0.9999, "a confidence"),
    "max_p99_ratio": (False, 1, 100, "a ratio"),
}
_HOOK_PARAMETERS = {"before_traffic": "BeforeTrafficHook", "after_promote": "AfterPromoteHook"}
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
    steps: tuple[Step, ...] = ()  # none: one manual step at `weight`
    analysis: Analysis = field(default_factory=Analysis)  # the stack's, made stricter by the input
    alarms: tuple[str, ...] = ()  # the stack's, then the input's
    hooks: Hooks = field(default_factory=Hooks)  # the stack's, or the input's where the stack has none
    irreversible: bool = False  # changes data or schema: one manual step at weight 0, a person approves


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

    steps = _parse_steps(raw, defaults, problems)
    weight = steps[0].weight if steps else raw.get("weight", defaults.weight)
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

    analysis = _parse_analysis(raw.get("analysis"), defaults.analysis, problems)
    if analysis is not None and analysis.mode == "off":
        problems.extend(
            f"steps[{index}].gate: an auto gate moves on when the canary analysis says healthy, and this "
            'deployment\'s analysis is off; pass "analysis": {"mode": "advise"} (or "rollback"), deploy the '
            'stack with AnalysisMode advise or rollback, or make the gate "manual"'
            for index, step in enumerate(steps)
            if step.gate == "auto"
        )
    alarms = _parse_alarms(raw.get("alarms"), defaults.alarms, problems)
    hooks = _parse_hooks(raw.get("hooks"), defaults.hooks, functions, managed_prefix, problems)

    irreversible = raw.get("irreversible", False)
    if not isinstance(irreversible, bool):
        problems.append(f"irreversible: {irreversible!r} is not true or false")
    elif irreversible:
        problems.extend(_irreversible_problems(raw))
        # no safe split: the old version keeps all traffic until a person approves, then the new one takes it;
        # pre-approval, the input's or the stack's, does not apply
        steps, weight, pre_approve, on_timeout = (Step(0.0),), 0.0, False, "rollback"

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
        steps=steps,
        analysis=cast(Analysis, analysis),
        alarms=alarms,
        hooks=hooks,
        irreversible=irreversible is True,
    )


def _irreversible_problems(raw: dict[str, Any]) -> list[str]:
    """What an irreversible deployment (it changes data or schema: a roll back cannot undo that) may not ask
    for: traffic split between the versions, or a promotion by the deadline. Pre-approval does not apply to
    it (a pipeline that pre-approves every build still gets a person's approval for this one): ignored."""
    why = "irreversible: true (a change to data or schema)"
    problems = []
    if "steps" in raw:
        problems.append(f"steps: {why} sends no traffic to the new version before approval; leave steps out")
    if raw.get("weight", 0) != 0:
        problems.append(f"weight: {why} sends no traffic to the new version before approval; leave weight out")
    if raw.get("on_timeout") == "promote":
        problems.append(f'on_timeout: {why} is never promoted by a deadline; leave on_timeout out or pass "rollback"')
    return problems


def _parse_steps(raw: dict[str, Any], defaults: Defaults, problems: list[str]) -> tuple[Step, ...]:
    """The schedule, or () for none (one manual step at `weight`). Weights rise strictly, each within the
    stack's MaxNewVersionWeight."""
    steps = raw.get("steps")
    if steps is None:
        return ()
    example = '[{"weight": 0.05, "gate": "manual"}, {"weight": 0.25, "bake_seconds": 600, "gate": "auto"}]'
    if "weight" in raw:
        problems.append(
            "weight, steps: both given; the steps' weights replace weight: pass one of them (steps[0] is the "
            "first weight)"
        )
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        problems.append(f"steps: must be a list of 1 to {MAX_STEPS} steps, e.g. {example}")
        return ()
    parsed: list[Step] = []
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        if not isinstance(step, dict) or set(step) - set(STEP_FIELDS) or "weight" not in step:
            shown = sorted(step) if isinstance(step, dict) else repr(step)
            problems.append(
                f'{where}: a step is an object with "weight" and may have "gate" and "bake_seconds" (got {shown}); '
                'e.g. {"weight": 0.25, "bake_seconds": 600, "gate": "auto"}'
            )
            continue
        weight, gate, bake = step["weight"], step.get("gate", "manual"), step.get("bake_seconds", 0)
        ok = True
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 1:
            problems.append(f"{where}.weight: {weight!r} is not a share of traffic; pass a fraction above 0, at most 1")
            ok = False
        elif weight > defaults.max_weight:
            problems.append(
                f"{where}.weight: {weight:g} is above the stack's MaxNewVersionWeight ({defaults.max_weight:g}); "
                f"pass at most {defaults.max_weight:g}, or raise MaxNewVersionWeight on the stack"
            )
        elif parsed and weight <= parsed[-1].weight:
            problems.append(
                f"{where}.weight: {weight:g} is not above the step before it ({parsed[-1].weight:g}); "
                "each step gives the new version more traffic than the one before"
            )
        if gate not in GATES:
            problems.append(
                f'{where}.gate: {gate!r} is not a gate; pass "manual" (a click moves on) or "auto" (the canary '
                "analysis moves on once healthy after bake_seconds)"
            )
            ok = False
        if isinstance(bake, bool) or not isinstance(bake, int) or not 0 <= bake <= MAX_BAKE_SECONDS:
            problems.append(
                f"{where}.bake_seconds: {bake!r} is not allowed; pass whole seconds from 0 to {MAX_BAKE_SECONDS}"
            )
            ok = False
        elif bake and gate == "manual":
            problems.append(
                f"{where}.bake_seconds: a manual gate waits for a click, not a bake time; leave bake_seconds out, or "
                'make the gate "auto"'
            )
        if ok:
            parsed.append(Step(weight=float(weight), gate=gate, bake_seconds=bake))
    return tuple(parsed) if len(parsed) == len(steps) else ()


def _parse_analysis(analysis: Any, stack: Analysis, problems: list[str]) -> Analysis | None:
    """The stack's analysis with the input's settings, each only stricter than the stack's (None when refused)."""
    if analysis is None:
        return stack
    if not isinstance(analysis, dict):
        problems.append('analysis: must be an object, e.g. {"mode": "rollback", "interval_seconds": 60}')
        return None
    count = len(problems)
    for name in analysis:
        if name not in ANALYSIS_FIELDS:
            problems.append(f"analysis.{name}: unknown field; known fields: {', '.join(ANALYSIS_FIELDS)}")
    mode = analysis.get("mode", stack.mode)
    if mode not in ANALYSIS_MODES:
        problems.append(f'analysis.mode: {mode!r} is not a mode; pass "off", "advise" or "rollback"')
    elif ANALYSIS_MODES.index(mode) < ANALYSIS_MODES.index(stack.mode):
        allowed = " or ".join(f'"{m}"' for m in ANALYSIS_MODES[ANALYSIS_MODES.index(stack.mode) :])
        problems.append(
            f'analysis.mode: "{mode}" is laxer than this stack\'s AnalysisMode ("{stack.mode}"); pass {allowed}, '
            "leave mode out, or deploy the stack with a laxer AnalysisMode"
        )
    values: dict[str, Any] = {"mode": mode}
    for name, (parameter, direction, why) in _STRICTER.items():
        limit = getattr(stack, name)
        value = values[name] = analysis.get(name, limit)
        whole, low, high, example = _ANALYSIS_RANGES[name]
        kind = int if whole else int | float
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            problems.append(
                f"analysis.{name}: {value!r} is not allowed; pass {'whole ' if whole else ''}{example} from {low:g} "
                f"to {high:g}, or leave {name} out"
            )
        elif (direction == "at most" and value > limit) or (direction == "at least" and value < limit):
            problems.append(
                f"analysis.{name}: {value:g} is laxer than this stack's {parameter} ({limit:g}); pass {direction} "
                f"{limit:g} ({why}), or leave {name} out"
            )
        elif name == "min_invocations" and value > limit * MAX_MIN_INVOCATIONS_FACTOR:
            problems.append(
                f"analysis.min_invocations: {value} is more than {MAX_MIN_INVOCATIONS_FACTOR} times this stack's "
                f"AnalysisMinInvocations ({limit}), and a larger sample also postpones an automatic roll back; pass "
                f"at most {limit * MAX_MIN_INVOCATIONS_FACTOR}, or raise AnalysisMinInvocations on the stack"
            )
    if len(problems) > count:
        return None
    return Analysis(
        mode=mode,
        interval_seconds=values["interval_seconds"],
        min_invocations=values["min_invocations"],
        confidence=float(values["confidence"]),
        max_p99_ratio=float(values["max_p99_ratio"]),
    )


def _parse_alarms(alarms: Any, stack: tuple[str, ...], problems: list[str]) -> tuple[str, ...]:
    """The stack's Alarms, then the input's own (each once): an input adds alarms, never removes the stack's."""
    if alarms is None:
        return stack
    if not isinstance(alarms, list) or len(alarms) > MAX_ALARMS:
        problems.append(
            f'alarms: must be a list of at most {MAX_ALARMS} CloudWatch alarm names, e.g. ["orders-api-errors"]'
        )
        return stack
    for index, name in enumerate(alarms):
        if not isinstance(name, str) or not 1 <= len(name) <= _ALARM_NAME_LENGTH or not name.isprintable():
            problems.append(
                f"alarms[{index}]: {name!r} is not an alarm name; pass the name of a CloudWatch alarm in this "
                f"account and region (1 to {_ALARM_NAME_LENGTH} characters, no control characters)"
            )
    return tuple(dict.fromkeys((*stack, *(a for a in alarms if isinstance(a, str)))))


def _parse_hooks(
    hooks: Any, stack: Hooks, functions: tuple[str, ...], managed_prefix: str, problems: list[str]
) -> Hooks:
    """The stack's hooks, and the input's where the stack sets none. A hook is a function of its own inside the
    stack's ManagedFunctionPrefix, never one of the functions deployed (it would run their new code as a hook)."""
    if hooks is not None and not isinstance(hooks, dict):
        problems.append('hooks: must be an object, e.g. {"before_traffic": "my-app-smoke-test"}')
        hooks = None
    given = hooks or {}
    for name in given:
        if name not in HOOK_FIELDS:
            problems.append(f"hooks.{name}: unknown hook; known hooks: {', '.join(HOOK_FIELDS)}")
    deployed = {function_name(f) for f in functions}
    chosen: dict[str, str | None] = {}
    for name in HOOK_FIELDS:
        parameter, from_stack, entry = _HOOK_PARAMETERS[name], getattr(stack, name), given.get(name)
        where = f"hooks.{name}" if entry is not None else parameter
        hook = from_stack
        if entry is not None:
            hook = function_name(entry) if isinstance(entry, str) else None
            if hook is None:
                problems.append(
                    f"hooks.{name}: {entry!r} is not a function name or an unqualified function ARN; pass e.g. "
                    '"my-app-smoke-test"'
                )
                continue
            if from_stack and hook != from_stack:
                problems.append(
                    f"hooks.{name}: this stack's {parameter} parameter sets {from_stack!r}, and an input may not "
                    f"replace it; leave hooks.{name} out, or change {parameter} on the stack"
                )
                continue
        if hook and managed_prefix not in ("", "*") and not hook.startswith(managed_prefix):
            problems.append(
                f"{where}: {hook!r} is outside this stack's ManagedFunctionPrefix ({managed_prefix!r}), the functions "
                f"it may invoke; name a function {managed_prefix}..."
            )
        elif hook and hook in deployed:
            problems.append(
                f"{where}: {hook!r} is one of the functions this deployment ships, and a hook runs with a hook's "
                "payload; name a function of its own that tests the deployment"
            )
        chosen[name] = hook
    return Hooks(**chosen)


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


def lookup_problems(lambda_client: Any, raw: Any, defaults: Defaults, managed_prefix: str = "*") -> list[str]:
    """The problems of looking up the functions of an input whose fields were refused, so that one rejection
    names them all: a weight out of range does not hide a function that does not exist. Only the entries that
    parse as names or ARNs inside the managed prefix are looked up, with the input's alias when it is a valid
    one (else the stack's), and only when their number is within MAX_FUNCTIONS."""
    if not isinstance(raw, dict):
        return []
    functions, _ = _parse_functions(raw.get("functions"), [])
    alias = raw.get("alias", defaults.alias)
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        alias = defaults.alias
    entries: dict[str, str] = {}  # {name: entry}: each function once
    for entry in functions:
        name = function_name(entry)
        if name is not None and name not in entries and not outside_prefix((entry,), managed_prefix):
            entries[name] = entry
    if not entries or len(functions) > MAX_FUNCTIONS:
        return []
    request = DeploymentRequest(
        repository="-",
        build_no=1,
        functions=tuple(entries.values()),
        code_sha256={},  # the code is compared once the input is valid
        alias=alias,
        weight=defaults.weight,
        pre_approve=False,
        build_url=None,
        approval_timeout_seconds=defaults.approval_timeout_seconds,
    )
    try:
        resolve_functions(lambda_client, request, splits={})
    except InvalidInput as error:
        return error.problems
    return []


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
