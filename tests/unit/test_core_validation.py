"""canary_core.validation.parse_request and function_name: the execution input, checked before anything is touched.

Every problem names the field and the fix; all problems of one input come back together in one InvalidInput.
"""

from __future__ import annotations

import re

import pytest

from canary_core.errors import InvalidInput
from canary_core.limits import LISTED
from canary_core.model import Analysis, Defaults, Hooks, Step
from canary_core.validation import MAX_BUILD_NO, MAX_FUNCTIONS, DeploymentRequest, function_name, parse_request

PAYMENTS_ARN = "arn:aws:lambda:us-east-1:123456789012:function:payments"


@pytest.fixture
def defaults():
    """The stack's parameters (template.yaml's defaults, except pre-approval on, as in dev)."""
    return Defaults(alias="live", weight=0.1, pre_approve=True, approval_timeout_seconds=3600)


@pytest.fixture
def minimal():
    """The three fields CI must always pass."""
    return {"repository": "my-app", "build_no": 760, "functions": ["orders-api"]}


def problems_of(raw, defaults):
    """The problems parse_request reports for `raw` (fails the test if it accepts it)."""
    with pytest.raises(InvalidInput) as invalid:
        parse_request(raw, defaults)
    assert str(invalid.value) == "; ".join(invalid.value.problems)
    return invalid.value.problems


def test_the_sample_ci_input_is_accepted_as_written(load_event, defaults):
    # given the input CI passes for build 760 (events/start-execution.json)
    raw = load_event("start-execution.json")

    # when it is parsed
    request = parse_request(raw, defaults)

    # then every field is taken from the input, none from the defaults
    assert request == DeploymentRequest(
        repository="my-app",
        build_no=760,
        functions=("my-app-orders", "arn:aws:lambda:us-east-1:123456789012:function:my-app-payments"),
        code_sha256={},
        alias="live",
        weight=0.1,
        pre_approve=False,
        build_url="https://ci.example.com/my-app/760",
        approval_timeout_seconds=3600,
        supersede=False,
    )


def test_fields_left_out_are_taken_from_the_defaults(minimal):
    # given the stack's defaults and an input with only the required fields
    defaults = Defaults(alias="prod-live", weight=0.25, pre_approve=True, approval_timeout_seconds=900)

    # when it is parsed
    request = parse_request(minimal, defaults)

    # then alias, weight, pre-approval and timeout come from the defaults; there is no build URL
    assert (request.alias, request.weight, request.pre_approve, request.approval_timeout_seconds) == (
        "prod-live",
        0.25,
        True,
        900,
    )
    assert request.build_url is None


def test_an_integer_weight_is_read_as_a_fraction(minimal, defaults):
    # given a weight of 1 (all traffic) written as a whole number, on a stack that allows it
    # when it is parsed
    request = parse_request({**minimal, "weight": 1}, Defaults(**{**defaults.__dict__, "max_weight": 1.0}))

    # then the request carries it as a float
    assert request.weight == 1.0
    assert isinstance(request.weight, float)


def test_a_build_number_given_as_digits_in_a_string_is_read_as_a_number(minimal, defaults):
    # given a CI that passes its build number as a string of digits
    # when it is parsed
    request = parse_request({**minimal, "build_no": "760"}, defaults)

    # then the build number is the integer
    assert request.build_no == 760


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ("repository", 'repository: missing; add the repository\'s name, e.g. "repository": "my-app"'),
        ("build_no", 'build_no: missing; add the CI build number, e.g. "build_no": 760'),
        ("functions", "functions: missing; list the functions to deploy, by name or ARN"),
    ],
)
def test_a_missing_required_field_is_named_with_an_example(minimal, defaults, missing, expected):
    # given an input without one of the required fields
    raw = {k: v for k, v in minimal.items() if k != missing}

    # when it is parsed
    problems = problems_of(raw, defaults)

    # then the one problem names the field and shows how to add it
    assert problems == [expected]


@pytest.mark.parametrize(
    ("weight", "expected"),
    [
        (1.5, "weight: 1.5 is outside 0..1; pass a fraction such as 0.1 for 10% of traffic"),
        (-0.1, "weight: -0.1 is outside 0..1; pass a fraction such as 0.1 for 10% of traffic"),
        ("0.1", "weight: '0.1' is not a number; pass the share of traffic for the new version"),
        (True, "weight: True is not a number; pass the share of traffic for the new version"),
    ],
)
def test_a_bad_weight_is_named_with_the_fix(minimal, defaults, weight, expected):
    # given a weight outside 0..1, a string or a boolean
    # when it is parsed
    problems = problems_of({**minimal, "weight": weight}, defaults)

    # then the problem names the weight and says what to pass instead
    assert problems == [expected]


@pytest.mark.parametrize("build_no", [0, "abc", True, -5, 7.5, "²", "٧٦٠", "760 ", MAX_BUILD_NO + 1, int("9" * 39)])
def test_a_bad_build_number_is_named_with_the_fix(minimal, defaults, build_no):
    # given a build number that is not a whole number in range (booleans, non-ASCII digits and numbers too
    # large for the deployments table included)
    # when it is parsed
    problems = problems_of({**minimal, "build_no": build_no}, defaults)

    # then the problem names it and asks for a whole number in range
    assert problems == [f"build_no: {build_no!r} is not a build number; pass a whole number from 1 to {MAX_BUILD_NO}"]


def test_the_largest_build_number_is_accepted(minimal, defaults):
    # given the largest build number allowed
    # when it is parsed
    # then it is accepted
    assert parse_request({**minimal, "build_no": MAX_BUILD_NO}, defaults).build_no == MAX_BUILD_NO


@pytest.mark.parametrize("functions", [[], "orders-api", {"name": "orders-api"}])
def test_functions_must_be_a_non_empty_list(minimal, defaults, functions):
    # given functions that are empty, or not a list
    # when it is parsed
    problems = problems_of({**minimal, "functions": functions}, defaults)

    # then the problem says what functions must be
    assert problems == ["functions: must be a non-empty list of function names or ARNs"]


def test_a_function_listed_twice_by_name_is_a_duplicate(minimal, defaults):
    # given the same function listed twice by name
    # when it is parsed
    problems = problems_of({**minimal, "functions": ["orders-api", "payments", "orders-api"]}, defaults)

    # then the second one is named as a repeat, by its position
    assert problems == ["functions[2]: 'orders-api' repeats 'orders-api'; list each function once"]


def test_a_function_listed_by_name_and_by_arn_is_a_duplicate(minimal, defaults):
    # given a function listed once by name and once by its ARN
    # when it is parsed
    problems = problems_of({**minimal, "functions": ["payments", PAYMENTS_ARN]}, defaults)

    # then the ARN is named as a repeat of the name
    assert problems == [f"functions[1]: {PAYMENTS_ARN!r} repeats 'payments'; list each function once"]


@pytest.mark.parametrize("qualified", [PAYMENTS_ARN + ":live", PAYMENTS_ARN + ":7", PAYMENTS_ARN + ":$LATEST"])
def test_a_qualified_function_arn_is_rejected(minimal, defaults, qualified):
    # given a function ARN with an alias or version suffix
    # when it is parsed
    problems = problems_of({**minimal, "functions": ["orders-api", qualified]}, defaults)

    # then the problem names the entry and says to leave the suffix off, with an example
    assert len(problems) == 1
    assert problems[0].startswith(f"functions[1]: {qualified!r} is not a function name or an unqualified function ARN")
    assert "(no version or alias suffix)" in problems[0]
    assert '"arn:aws:lambda:us-east-1:123456789012:function:orders-api"' in problems[0]


def test_a_function_entry_that_is_not_a_string_is_named_by_position(minimal, defaults):
    # given a list of functions with a number in it
    # when it is parsed
    problems = problems_of({**minimal, "functions": ["orders-api", 42]}, defaults)

    # then the entry is named by its position
    assert problems == ["functions[1]: 42 is not a function name or ARN"]


def test_more_functions_than_one_deployment_takes_are_refused(minimal, defaults):
    # given one function more than the limit
    names = [f"fn-{index}" for index in range(MAX_FUNCTIONS + 1)]

    # when it is parsed
    problems = problems_of({**minimal, "functions": names}, defaults)

    # then the problem gives the count, the limit and the fix
    assert problems == [f"functions: {MAX_FUNCTIONS + 1} listed, at most {MAX_FUNCTIONS}; split the deployment"]


def test_an_unknown_field_gets_a_did_you_mean_hint(minimal, defaults):
    # given a misspelt field
    # when it is parsed
    problems = problems_of({**minimal, "wieght": 0.2}, defaults)

    # then the field is named and the likely intended field suggested
    assert problems == ["wieght: unknown field; did you mean 'weight'?"]


def test_an_unknown_field_unlike_any_known_one_lists_the_known_fields(minimal, defaults):
    # given a field that resembles none of the known ones
    # when it is parsed
    problems = problems_of({**minimal, "zzz": 1}, defaults)

    # then the known fields are listed
    assert problems == [
        "zzz: unknown field; known fields: repository, build_no, functions, alias, weight, pre_approve, "
        "build_url, approval_timeout_seconds, supersede, on_timeout, steps, analysis, alarms, hooks, irreversible"
    ]


@pytest.mark.parametrize("timeout", [0, 604801, 60.5, "3600", False])
def test_an_approval_timeout_outside_one_second_to_a_week_is_refused(minimal, defaults, timeout):
    # given an approval timeout that is not whole seconds from 1 to a week
    # when it is parsed
    problems = problems_of({**minimal, "approval_timeout_seconds": timeout}, defaults)

    # then the problem names it and gives the allowed range
    assert problems == [
        f"approval_timeout_seconds: {timeout!r} is not allowed; pass whole seconds from 1 to 604800 (a week)"
    ]


@pytest.mark.parametrize("build_url", ["ci.example.com/my-app/760", "ftp://ci.example.com/760", 760, ""])
def test_a_build_url_that_is_not_an_http_url_is_refused(minimal, defaults, build_url):
    # given a build URL that is not an http(s) URL
    # when it is parsed
    problems = problems_of({**minimal, "build_url": build_url}, defaults)

    # then the problem names it and says it may be left out
    assert problems == [
        f"build_url: {build_url!r} is not an http(s) URL without spaces, quotes, '<', '>' or '|'; "
        "pass the CI build's page or leave it out"
    ]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("alias", "7", "alias: '7' is not an alias name; use letters, digits, '-' or '_' (e.g. \"live\")"),
        ("alias", "li ve", "alias: 'li ve' is not an alias name; use letters, digits, '-' or '_' (e.g. \"live\")"),
        ("pre_approve", "false", "pre_approve: 'false' is not true or false"),
        (
            "repository",
            "my app",
            "repository: 'my app' is not a repository name; use letters, digits, '.', '_', '-', '/'",
        ),
    ],
)
def test_other_bad_fields_are_named_with_the_fix(minimal, defaults, field, value, expected):
    # given one bad alias, pre-approval flag or repository name
    # when it is parsed
    problems = problems_of({**minimal, field: value}, defaults)

    # then the problem names the field and the fix
    assert problems == [expected]


def test_several_problems_are_reported_together(defaults):
    # given an input with a misspelt field, no repository, a bad build number, a bad weight and a duplicate
    raw = {
        "wieght": 0.1,
        "build_no": 0,
        "functions": ["orders-api", "orders-api"],
        "weight": 1.5,
        "approval_timeout_seconds": 0,
    }

    # when it is parsed
    problems = problems_of(raw, defaults)

    # then one InvalidInput lists every problem, each naming its field
    assert [problem.split(":")[0] for problem in problems] == [
        "wieght",
        "repository",
        "build_no",
        "functions[1]",
        "weight",
        "approval_timeout_seconds",
    ]


@pytest.mark.parametrize("raw", [None, [], "my-app", 760])
def test_an_input_that_is_not_an_object_is_refused_with_an_example(defaults, raw):
    # given an execution input that is not a JSON object
    # when it is parsed
    problems = problems_of(raw, defaults)

    # then the one problem shows the expected shape
    assert problems == ['input: must be a JSON object such as {"repository": ..., "build_no": ...}']


@pytest.mark.parametrize(
    ("entry", "name"),
    [
        ("orders-api", "orders-api"),
        ("Orders_API-2", "Orders_API-2"),
        (PAYMENTS_ARN, "payments"),
        ("arn:aws-cn:lambda:cn-north-1:123456789012:function:orders-api", "orders-api"),
        ("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:orders-api", "orders-api"),
        (PAYMENTS_ARN + ":live", None),
        (PAYMENTS_ARN + ":3", None),
        (PAYMENTS_ARN + ":", None),
        ("123456789012:function:payments", None),
        ("arn:aws:lambda:us-east-1:12345:function:payments", None),
        ("arn:aws:s3:::bucket", None),
        ("orders.api", None),
        ("", None),
        ("x" * 65, None),
        ("orders-api\n", None),
        (PAYMENTS_ARN + "\n", None),
    ],
)
def test_function_name_of_names_and_arns(entry, name):
    # given a function name, an unqualified ARN, or something else
    # when its function name is asked for
    # then names and unqualified ARNs give the name; anything else gives None
    assert function_name(entry) == name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("repository", "my-app\n"),
        ("alias", "live\n"),
        ("functions", ["orders-api\n"]),
        ("build_url", "https://ci.example.com/my-app/760\n"),
    ],
)
def test_a_value_with_a_trailing_newline_is_refused(minimal, defaults, field, value):
    # given a field whose value ends in a newline (a CI variable read with its line ending)
    # when it is parsed
    problems = problems_of({**minimal, field: value}, defaults)

    # then it is refused, naming the field
    assert problems[0].startswith(field)


# --- supersede, and functions given with the CodeSha256 CI built -----------------------------------------

SHA = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # base64 of a SHA-256: 43 characters and "="


def test_supersede_is_off_unless_asked_for(minimal, defaults):
    # given inputs without and with "supersede": true
    # when they are parsed
    # then only the second asks to supersede
    assert parse_request(minimal, defaults).supersede is False
    assert parse_request({**minimal, "supersede": True}, defaults).supersede is True


@pytest.mark.parametrize("supersede", ["true", 1, None, "yes"])
def test_supersede_must_be_true_or_false(minimal, defaults, supersede):
    # given a supersede that is not a JSON boolean
    # when it is parsed
    problems = problems_of({**minimal, "supersede": supersede}, defaults)

    # then it is named
    assert problems == [f"supersede: {supersede!r} is not true or false"]


def test_a_function_given_as_an_object_carries_its_code_sha256(minimal, defaults):
    # given one function as an object with the CodeSha256 CI built, one by ARN as an object without it, one by name
    functions = [{"name": "orders-api", "code_sha256": SHA}, {"name": PAYMENTS_ARN}, "billing"]

    # when it is parsed
    request = parse_request({**minimal, "functions": functions}, defaults)

    # then the functions are listed as given, and only the first has a CodeSha256 to check
    assert request.functions == ("orders-api", PAYMENTS_ARN, "billing")
    assert request.code_sha256 == {"orders-api": SHA}


@pytest.mark.parametrize(
    "code_sha256",
    [SHA[:-1], SHA[:-1] + "A", "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=", SHA + "\n", 42, ""],
)
def test_a_bad_code_sha256_is_named_by_position_with_where_to_find_it(minimal, defaults, code_sha256):
    # given a CodeSha256 that is too short, lacks its "=", is base64url, has a newline, is a number or is empty
    functions = ["orders-api", {"name": "payments", "code_sha256": code_sha256}]

    # when it is parsed
    problems = problems_of({**minimal, "functions": functions}, defaults)

    # then the entry is named by position, with what a CodeSha256 is and where to read it
    assert problems == [
        f"functions[1].code_sha256: {code_sha256!r} is not a CodeSha256; pass the base64 SHA-256 of the "
        "deployment package, as `aws lambda get-function-configuration` shows it"
    ]


@pytest.mark.parametrize(
    ("entry", "keys"),
    [
        ({"name": "orders-api", "sha": SHA}, "['name', 'sha']"),
        ({"code_sha256": SHA}, "['code_sha256']"),
        ({"name": 7}, "['name']"),
        ({}, "[]"),
    ],
)
def test_a_function_object_with_an_unknown_key_or_without_a_name_is_refused_with_an_example(
    minimal, defaults, entry, keys
):
    # given a function object with an unknown key, or without a name (or with a name that is not text)
    # when it is parsed
    problems = problems_of({**minimal, "functions": [entry]}, defaults)

    # then the entry is named by position with its keys and an example
    assert problems == [
        f'functions[0]: an object needs "name" and may have "code_sha256" (got {keys}); '
        'e.g. {"name": "orders-api", "code_sha256": "..."}'
    ]


def test_a_function_listed_as_an_object_and_by_name_is_a_duplicate(minimal, defaults):
    # given the same function as an object and by name
    functions = [{"name": "orders-api", "code_sha256": SHA}, "orders-api"]

    # when it is parsed
    problems = problems_of({**minimal, "functions": functions}, defaults)

    # then the second is named as a repeat
    assert problems == ["functions[1]: 'orders-api' repeats 'orders-api'; list each function once"]


# --- on_timeout: what a deployment nobody decided does at its deadline -----------------------------------


def test_on_timeout_comes_from_the_defaults_unless_the_input_says(minimal):
    # given a stack that promotes at the deadline
    defaults = Defaults(
        alias="live", weight=0.1, pre_approve=False, approval_timeout_seconds=3600, on_timeout="promote"
    )

    # when inputs without and with on_timeout are parsed
    # then the stack's policy applies unless the input names one
    assert parse_request(minimal, defaults).on_timeout == "promote"
    assert parse_request({**minimal, "on_timeout": "rollback"}, defaults).on_timeout == "rollback"


@pytest.mark.parametrize("on_timeout", ["Promote", "approve", "", None, True, ["promote"]])
def test_an_unknown_on_timeout_policy_is_refused_with_the_two_policies(minimal, defaults, on_timeout):
    # given an on_timeout that is not one of the two policies
    # when it is parsed
    problems = problems_of({**minimal, "on_timeout": on_timeout}, defaults)

    # then the problem names the value and the policies
    assert problems == [f'on_timeout: {on_timeout!r} is not a policy; pass "rollback" or "promote"']


def test_a_rejection_with_many_problems_stays_within_what_step_functions_keeps():
    # given 25 problems, one of them 2000 characters long
    problems = [f"functions: 'fn-{index}' does not exist in this account and region" for index in range(24)]
    problems.insert(3, "functions: " + "x" * 2000)

    # when they are raised together
    error = InvalidInput(problems)

    # then every problem is kept, but the message lists the first 20, each cut at 500 characters, and counts the rest
    assert error.problems == problems
    listed = str(error).split("; and ")[0].split("; ")
    assert len(listed) == LISTED
    assert listed[3] == problems[3][:500]
    assert str(error).endswith("; and 5 more problem(s) of the same kinds")
    assert len(str(error)) < 32768


def test_the_sample_ci_input_is_inside_the_documented_prefix(load_event, defaults):
    # given the sample CI input and the README's deploy example, ManagedFunctionPrefix=my-app-
    raw = load_event("start-execution.json")

    # when it is parsed for that stack
    request = parse_request(raw, defaults, "my-app-")

    # then both its functions are accepted
    assert len(request.functions) == 2


@pytest.mark.parametrize("outside", ["orders-api", PAYMENTS_ARN])
def test_a_function_outside_the_managed_prefix_is_refused_naming_the_parameter(minimal, defaults, outside):
    # given a stack deployed with ManagedFunctionPrefix=my-app- and a function, by name or ARN, outside it
    raw = {**minimal, "functions": ["my-app-orders", outside]}

    # when the input is parsed for that stack
    with pytest.raises(InvalidInput) as invalid:
        parse_request(raw, defaults, "my-app-")

    # then that function alone is refused, with the parameter that decides and the two ways to fix it
    assert invalid.value.problems == [
        f"functions: {outside!r} is outside this stack's ManagedFunctionPrefix ('my-app-'): the stack may deploy "
        "only functions whose names start with it; name the function my-app-..., or deploy the stack with a "
        "ManagedFunctionPrefix that covers it"
    ]


def test_a_stack_for_every_function_accepts_any_name(minimal, defaults):
    # given a stack deployed with ManagedFunctionPrefix=*
    # when any function is parsed
    request = parse_request({**minimal, "functions": ["orders-api"]}, defaults, "*")

    # then it is accepted
    assert request.functions == ("orders-api",)


def test_the_readme_deploys_and_starts_functions_under_one_prefix(project_root, defaults):
    # given the README: its deploy example's ManagedFunctionPrefix, and every function its CI steps name
    readme = (project_root / "README.md").read_text()
    (prefix,) = set(re.findall(r"sam deploy[^`]*?ManagedFunctionPrefix=(\S+)", readme))
    listed = re.findall(r'functions: \[([^\]]*)\]|"functions": \[([^\]]*)\]|for f in ([^;]+); do', readme)
    names = {n.strip().strip('"') for group in listed for part in group if part for n in re.split(r"[ ,]+", part) if n}

    # when they are checked against that prefix
    outside = [name for name in names if not (function_name(name) or "").startswith(prefix)]

    # then every function the README starts, uploads or creates is one the stack it deploys may touch
    assert prefix == "my-app-" and len(names) >= 2
    assert outside == []


# --- the stack sets policy; the input can only be stricter ------------------------------------------------


@pytest.fixture
def production():
    """template.yaml's defaults: a person approves, the deadline rolls back, weights up to 0.5."""
    return Defaults(alias="live", weight=0.1, pre_approve=False, approval_timeout_seconds=3600)


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        (
            {"pre_approve": True},
            "pre_approve: this stack requires a person's approval (its PreApprove and AllowPreApprove parameters "
            "are false); leave pre_approve out, or deploy the stack with AllowPreApprove=true",
        ),
        (
            {"weight": 1},
            "weight: 1 is above the stack's MaxNewVersionWeight (0.5); pass at most 0.5, or raise "
            "MaxNewVersionWeight on the stack",
        ),
        (
            {"on_timeout": "promote"},
            'on_timeout: "promote" is not allowed on this stack (its OnTimeout parameter is rollback and '
            "AllowOnTimeoutPromote is false); leave on_timeout out, or deploy the stack with "
            "AllowOnTimeoutPromote=true",
        ),
    ],
)
def test_an_input_cannot_skip_the_approval_a_production_stack_requires(minimal, production, asked, expected):
    # given a production stack's policy and an input asking for more than it allows
    # when it is parsed
    problems = problems_of({**minimal, **asked}, production)

    # then it is refused, naming the stack parameter that forbids it
    assert problems == [expected]


def test_a_short_promoting_deadline_is_refused_and_names_the_stacks_minimum(minimal):
    # given a stack that allows promote-on-timeout, with windows of at least 900 s
    defaults = Defaults(
        alias="live", weight=0.1, pre_approve=False, approval_timeout_seconds=3600, allow_on_timeout_promote=True
    )

    # when an input asks to promote after one second
    problems = problems_of({**minimal, "approval_timeout_seconds": 1, "on_timeout": "promote"}, defaults)

    # then it is refused, naming MinPromoteTimeoutSeconds; a window of 900 s or a roll back is accepted
    assert problems == [
        "approval_timeout_seconds: 1 is shorter than the stack's MinPromoteTimeoutSeconds (900) while the "
        'deadline promotes; pass at least 900, or "on_timeout": "rollback"'
    ]
    assert parse_request({**minimal, "approval_timeout_seconds": 900, "on_timeout": "promote"}, defaults).on_timeout
    assert parse_request({**minimal, "approval_timeout_seconds": 1}, defaults).approval_timeout_seconds == 1


def test_a_stack_whose_own_parameters_break_its_policy_is_named(minimal):
    # given a stack promoting at a deadline shorter than its minimum, with a default weight above its maximum
    defaults = Defaults(
        alias="live", weight=0.6, pre_approve=False, approval_timeout_seconds=60, on_timeout="promote", max_weight=0.5
    )

    # when an input that asks nothing is parsed
    problems = problems_of(minimal, defaults)

    # then each problem says the value came from the stack
    assert problems == [
        "weight: 0.6 (the stack's NewVersionWeight) is above the stack's MaxNewVersionWeight (0.5); pass at most "
        "0.5, or raise MaxNewVersionWeight on the stack",
        "approval_timeout_seconds: 60 (the stack's ApprovalTimeoutSeconds) is shorter than the stack's "
        'MinPromoteTimeoutSeconds (900) while the deadline promotes; pass at least 900, or "on_timeout": "rollback"',
    ]


def test_the_input_may_always_be_stricter_than_the_stack(minimal):
    # given a dev stack: pre-approved, promoting at its deadline
    defaults = Defaults(alias="live", weight=0.1, pre_approve=True, approval_timeout_seconds=900, on_timeout="promote")

    # when an input asks for a person, a roll back at the deadline and a smaller weight
    request = parse_request({**minimal, "pre_approve": False, "on_timeout": "rollback", "weight": 0.01}, defaults)

    # then it is accepted as asked
    assert (request.pre_approve, request.on_timeout, request.weight) == (False, "rollback", 0.01)


def test_a_stack_that_allows_pre_approval_takes_it_from_the_input(minimal, production):
    # given a stack that waits for a person by default but lets the input ask for pre-approval
    defaults = Defaults(**{**production.__dict__, "allow_pre_approve": True})

    # when the input asks for it, or not
    # then pre-approval follows the input
    assert parse_request({**minimal, "pre_approve": True}, defaults).pre_approve is True
    assert parse_request(minimal, defaults).pre_approve is False


# --- steps, analysis, alarms and hooks ----------------------------------------------------------------------


@pytest.fixture
def watched():
    """A stack that advises on the analysis, watches one alarm and runs a before-traffic hook (prefix my-app-)."""
    return Defaults(
        alias="live",
        weight=0.1,
        pre_approve=False,
        approval_timeout_seconds=3600,
        analysis=Analysis(mode="advise", interval_seconds=60, min_invocations=100, confidence=0.99, max_p99_ratio=1.5),
        alarms=("my-app-errors",),
        hooks=Hooks(before_traffic="my-app-smoke"),
    )


@pytest.fixture
def mine():
    return {"repository": "my-app", "build_no": 760, "functions": ["my-app-orders"]}


def test_a_schedule_is_read_and_its_first_step_is_the_weight(mine, watched):
    # given a three-step schedule: a manual gate, then two auto gates with bake times
    steps = [
        {"weight": 0.05, "gate": "manual"},
        {"weight": 0.25, "bake_seconds": 600, "gate": "auto"},
        {"weight": 0.5, "bake_seconds": 600, "gate": "auto"},
    ]

    # when it is parsed
    request = parse_request({**mine, "steps": steps}, watched, "my-app-")

    # then every step is kept, and the deployment starts at the first weight
    assert request.steps == (Step(0.05, "manual"), Step(0.25, "auto", 600), Step(0.5, "auto", 600))
    assert request.weight == 0.05


def test_without_steps_the_request_has_none_and_the_model_makes_one_manual_step(mine, watched):
    request = parse_request(mine, watched, "my-app-")
    assert (request.steps, request.weight) == ((), 0.1)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([], ["steps: must be a list of 1 to 10 steps"]),
        ([{"weight": 0.01 * (i + 1)} for i in range(11)], ["steps: must be a list of 1 to 10 steps"]),
        ([{"weight": 0.2}, {"weight": 0.2}], ["steps[1].weight: 0.2 is not above the step before it (0.2)"]),
        ([{"weight": 0}], ["steps[0].weight: 0 is not a share of traffic"]),
        ([{"weight": 0.6}], ["steps[0].weight: 0.6 is above the stack's MaxNewVersionWeight (0.5)"]),
        ([{"weight": 0.1, "gate": "maybe"}], ["steps[0].gate: 'maybe' is not a gate"]),
        ([{"weight": 0.1, "gate": "auto", "bake_seconds": 86401}], ["steps[0].bake_seconds: 86401 is not allowed"]),
        ([{"weight": 0.1, "gate": "auto", "bake_seconds": 1.5}], ["steps[0].bake_seconds: 1.5 is not allowed"]),
        ([{"weight": 0.1, "bake_seconds": 60}], ["steps[0].bake_seconds: a manual gate waits for a click"]),
        ([{"gate": "auto"}, "0.2"], ["steps[0]: a step is an object", "steps[1]: a step is an object"]),
    ],
)
def test_a_bad_schedule_names_the_step_and_the_fix(mine, watched, steps, expected):
    # given a schedule with a problem
    # when it is parsed
    with pytest.raises(InvalidInput) as invalid:
        parse_request({**mine, "steps": steps}, watched, "my-app-")

    # then each problem names the step and its field
    assert len(invalid.value.problems) == len(expected)
    for problem, start in zip(invalid.value.problems, expected, strict=True):
        assert problem.startswith(start)


def test_weight_and_steps_together_are_refused_naming_both(mine, watched):
    problems = problems_of({**mine, "weight": 0.1, "steps": [{"weight": 0.2}]}, watched)
    assert problems[0].startswith("weight, steps: both given")


def test_an_auto_gate_without_analysis_is_refused_naming_the_fix(mine):
    # given a stack whose analysis is off
    defaults = Defaults(alias="live", weight=0.1, pre_approve=False, approval_timeout_seconds=3600)

    # when a schedule has an auto gate, with or without the input turning the analysis on
    steps = [{"weight": 0.1}, {"weight": 0.3, "gate": "auto", "bake_seconds": 60}]
    problems = problems_of({**mine, "steps": steps}, defaults)
    accepted = parse_request({**mine, "steps": steps, "analysis": {"mode": "advise"}}, defaults)

    # then without analysis it is refused, naming the input's analysis and the stack's AnalysisMode
    assert problems == [
        "steps[1].gate: an auto gate moves on when the canary analysis says healthy, and this deployment's analysis "
        'is off; pass "analysis": {"mode": "advise"} (or "rollback"), deploy the stack with AnalysisMode advise or '
        'rollback, or make the gate "manual"'
    ]
    assert accepted.analysis.mode == "advise"


def test_the_analysis_comes_from_the_stack_and_the_input_may_make_it_stricter(mine, watched):
    # given a stack advising at 60 s, 100 invocations, confidence 0.99, p99 ratio 1.5
    # when an input asks for roll back, every 10 s, 1,000 invocations, confidence 0.95, ratio 1.2
    stricter = {"mode": "rollback", "interval_seconds": 10, "min_invocations": 1000, "confidence": 0.95}
    request = parse_request({**mine, "analysis": {**stricter, "max_p99_ratio": 1.2}}, watched, "my-app-")

    # then it is taken as asked; an input without analysis gets the stack's
    assert request.analysis == Analysis("rollback", 10, 1000, 0.95, 1.2)
    assert parse_request(mine, watched, "my-app-").analysis == watched.analysis


@pytest.mark.parametrize(
    ("analysis", "expected"),
    [
        (
            {"mode": "off"},
            'analysis.mode: "off" is laxer than this stack\'s AnalysisMode ("advise"); pass "advise" or "rollback", '
            "leave mode out, or deploy the stack with a laxer AnalysisMode",
        ),
        (
            {"interval_seconds": 120},
            "analysis.interval_seconds: 120 is laxer than this stack's AnalysisIntervalSeconds (60); pass at most 60 "
            "(a shorter interval sees a bad version sooner), or leave interval_seconds out",
        ),
        (
            {"min_invocations": 10},
            "analysis.min_invocations: 10 is laxer than this stack's AnalysisMinInvocations (100); pass at least 100 "
            "(a larger sample: more evidence before an auto gate), or leave min_invocations out",
        ),
        (
            {"min_invocations": 1001},
            "analysis.min_invocations: 1001 is more than 10 times this stack's AnalysisMinInvocations (100), and a "
            "larger sample also postpones an automatic roll back; pass at most 1000, or raise AnalysisMinInvocations "
            "on the stack",
        ),
        (
            {"confidence": 0.999},
            "analysis.confidence: 0.999 is laxer than this stack's AnalysisConfidence (0.99); pass at most 0.99 (a "
            "lower confidence calls a higher error rate unhealthy sooner), or leave confidence out",
        ),
        (
            {"max_p99_ratio": 3},
            "analysis.max_p99_ratio: 3 is laxer than this stack's AnalysisMaxP99Ratio (1.5); pass at most 1.5 (a "
            "lower ratio calls a slower version unhealthy sooner), or leave max_p99_ratio out",
        ),
        ({"mode": "yes"}, 'analysis.mode: \'yes\' is not a mode; pass "off", "advise" or "rollback"'),
        (
            {"interval_seconds": 0},
            "analysis.interval_seconds: 0 is not allowed; pass whole seconds from 1 to 3600, or leave "
            "interval_seconds out",
        ),
        (
            {"confidence": 1},
            "analysis.confidence: 1 is not allowed; pass a confidence from 0.5 to 0.9999, or leave confidence out",
        ),
        (
            {"max_p99_ratio": 0.5},
            "analysis.max_p99_ratio: 0.5 is not allowed; pass a ratio from 1 to 100, or leave max_p99_ratio out",
        ),
        (
            {"mood": "rollback"},
            "analysis.mood: unknown field; known fields: mode, interval_seconds, min_invocations, "
            "confidence, max_p99_ratio",
        ),
        ("rollback", 'analysis: must be an object, e.g. {"mode": "rollback", "interval_seconds": 60}'),
    ],
)
def test_an_analysis_laxer_than_the_stack_or_out_of_range_is_refused_naming_the_direction(
    mine, watched, analysis, expected
):
    # given a stack advising at 60 s, 100 invocations, confidence 0.99, p99 ratio 1.5
    # when an input asks for less than the stack, or for a value out of range
    problems = problems_of({**mine, "analysis": analysis}, watched)

    # then it is refused, naming the parameter and why the other direction is the stricter one
    assert problems == [expected]


def test_alarms_add_to_the_stacks_never_replace_them(mine, watched):
    # given a stack watching my-app-errors
    # when an input names two alarms, one of them the stack's
    request = parse_request({**mine, "alarms": ["my-app-latency", "my-app-errors"]}, watched, "my-app-")

    # then the deployment watches the stack's first, then the input's, each once
    assert request.alarms == ("my-app-errors", "my-app-latency")
    assert parse_request({**mine, "alarms": []}, watched, "my-app-").alarms == ("my-app-errors",)


@pytest.mark.parametrize(
    ("alarms", "expected"),
    [
        ("my-app-errors", "alarms: must be a list of at most 100 CloudWatch alarm names"),
        ([f"a{i}" for i in range(101)], "alarms: must be a list of at most 100 CloudWatch alarm names"),
        ([""], "alarms[0]: '' is not an alarm name"),
        (["x" * 256], "alarms[0]: "),
        (["ok", "bad\nname"], "alarms[1]: 'bad\\nname' is not an alarm name"),
        ([7], "alarms[0]: 7 is not an alarm name"),
    ],
)
def test_a_bad_alarm_list_names_the_entry(mine, watched, alarms, expected):
    problems = problems_of({**mine, "alarms": alarms}, watched)
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_hooks_come_from_the_stack_and_the_input_fills_only_what_it_leaves_empty(mine, watched):
    # given a stack with a before-traffic hook and no after-promote hook
    # when an input names an after-promote hook by ARN, and the stack's before-traffic hook again
    hooks = {
        "before_traffic": "my-app-smoke",
        "after_promote": "arn:aws:lambda:us-east-1:123456789012:function:my-app-announce",
    }
    request = parse_request({**mine, "hooks": hooks}, watched, "my-app-")

    # then both are kept, by name
    assert request.hooks == Hooks(before_traffic="my-app-smoke", after_promote="my-app-announce")
    assert parse_request(mine, watched, "my-app-").hooks == watched.hooks


@pytest.mark.parametrize(
    ("hooks", "expected"),
    [
        (
            {"before_traffic": "my-app-other"},
            "hooks.before_traffic: this stack's BeforeTrafficHook parameter sets 'my-app-smoke', and an input may "
            "not replace it; leave hooks.before_traffic out, or change BeforeTrafficHook on the stack",
        ),
        (
            {"after_promote": "billing-job"},
            "hooks.after_promote: 'billing-job' is outside this stack's ManagedFunctionPrefix ('my-app-'), the "
            "functions it may invoke; name a function my-app-...",
        ),
        (
            {"after_promote": "my-app-orders"},
            "hooks.after_promote: 'my-app-orders' is one of the functions this deployment ships, and a hook runs "
            "with a hook's payload; name a function of its own that tests the deployment",
        ),
        (
            {"after_promote": "arn:aws:lambda:us-east-1:123456789012:function:my-app-x:1"},
            "hooks.after_promote: 'arn:aws:lambda:us-east-1:123456789012:function:my-app-x:1' is not a function name "
            'or an unqualified function ARN; pass e.g. "my-app-smoke-test"',
        ),
        ({"before": "my-app-smoke"}, "hooks.before: unknown hook; known hooks: before_traffic, after_promote"),
        (["my-app-smoke"], 'hooks: must be an object, e.g. {"before_traffic": "my-app-smoke-test"}'),
    ],
)
def test_a_hook_the_input_may_not_set_is_refused_naming_the_parameter_or_the_fix(mine, watched, hooks, expected):
    # given a stack of prefix my-app- whose BeforeTrafficHook is set
    # when an input asks for a hook it may not have
    with pytest.raises(InvalidInput) as invalid:
        parse_request({**mine, "hooks": hooks}, watched, "my-app-")

    # then it is refused, naming the parameter or the fix
    assert invalid.value.problems == [expected]


def test_a_stack_hook_outside_its_own_prefix_is_named_by_its_parameter(mine, watched):
    # given a stack whose BeforeTrafficHook is outside its ManagedFunctionPrefix
    defaults = Defaults(**{**watched.__dict__, "hooks": Hooks(before_traffic="smoke")})

    # when an input that asks nothing is parsed
    with pytest.raises(InvalidInput) as invalid:
        parse_request(mine, defaults, "my-app-")

    # then the problem names the stack parameter
    assert invalid.value.problems == [
        "BeforeTrafficHook: 'smoke' is outside this stack's ManagedFunctionPrefix ('my-app-'), the functions it may "
        "invoke; name a function my-app-..."
    ]


def test_problems_with_steps_analysis_alarms_and_hooks_are_reported_together(mine, watched):
    raw = {**mine, "steps": [{"weight": 2}], "analysis": {"mode": "off"}, "alarms": [""], "hooks": {"x": "y"}}
    problems = problems_of(raw, watched)
    assert [p.split(":")[0] for p in problems] == ["steps[0].weight", "analysis.mode", "alarms[0]", "hooks.x"]


@pytest.mark.parametrize(
    ("given", "meant"), [("step", "steps"), ("alarm", "alarms"), ("hook", "hooks"), ("analyis", "analysis")]
)
def test_a_misspelt_new_field_gets_a_did_you_mean_hint(minimal, defaults, given, meant):
    assert problems_of({**minimal, given: []}, defaults) == [f"{given}: unknown field; did you mean '{meant}'?"]


def test_an_irreversible_deployment_gets_one_manual_step_at_no_weight_and_no_pre_approval(minimal, defaults):
    # given a stack that pre-approves (a dev stack's), and an input for a schema change
    # when it is parsed
    request = parse_request({**minimal, "irreversible": True}, defaults)

    # then nothing is split before approval, a person approves, and the deadline rolls back (nothing moved)
    assert request.irreversible
    assert (request.steps, request.weight, request.pre_approve, request.on_timeout) == (
        (Step(0.0),),
        0.0,
        False,
        "rollback",
    )


def test_an_irreversible_deployment_that_asks_for_steps_or_promotion_at_the_deadline_is_refused_naming_each(
    minimal, defaults
):
    # given an irreversible input that also asks for steps and promotion at the deadline
    raw = {**minimal, "irreversible": True, "steps": [{"weight": 0.1}], "on_timeout": "promote"}

    # when it is parsed, then each is refused with the fix
    assert problems_of(raw, defaults) == [
        "steps: irreversible: true (a change to data or schema) sends no traffic to the new version before "
        "approval; leave steps out",
        "on_timeout: irreversible: true (a change to data or schema) is never promoted by a deadline; leave "
        'on_timeout out or pass "rollback"',
    ]


def test_an_irreversible_deployment_asking_for_pre_approval_still_waits_for_a_person(minimal, defaults):
    # given a pipeline that pre-approves every build, and this build changes the schema
    # when its input is parsed, then pre-approval does not apply
    assert parse_request({**minimal, "irreversible": True, "pre_approve": True}, defaults).pre_approve is False


def test_an_irreversible_deployment_with_a_weight_is_refused_and_a_zero_weight_accepted(minimal, defaults):
    assert problems_of({**minimal, "irreversible": True, "weight": 0.1}, defaults) == [
        "weight: irreversible: true (a change to data or schema) sends no traffic to the new version before "
        "approval; leave weight out"
    ]
    assert parse_request({**minimal, "irreversible": True, "weight": 0}, defaults).weight == 0.0


@pytest.mark.parametrize("value", ["true", 1, None])
def test_irreversible_must_be_true_or_false(minimal, defaults, value):
    assert problems_of({**minimal, "irreversible": value}, defaults) == [
        f"irreversible: {value!r} is not true or false"
    ]
