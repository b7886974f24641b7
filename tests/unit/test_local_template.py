"""lambda_canary.local.template.Template: template.yaml read as CloudFormation would, for the local stack."""

from __future__ import annotations

import json
import re

import pytest

from lambda_canary.local.template import ACCOUNT_ID, REGION, Template

WEBHOOK = "https://hooks.slack.com/services/T000/B000/template-test"
REQUIRED = {"SlackWebhookUrl": WEBHOOK, "ManagedFunctionPrefix": "my-app-"}  # the parameters with no default


@pytest.fixture
def template(project_root):
    """template.yaml with the parameters that have no default given."""
    return Template.load(project_root / "template.yaml", REQUIRED, "unit-stack")


def test_the_template_loads_with_its_resources_and_globals(template, project_root):
    # given template.yaml loaded for stack "unit-stack"
    # when its parts are read
    tables = template.resources("AWS::DynamoDB::Table")
    functions = template.resources("AWS::Serverless::Function")

    # then it has the deployments and locks tables, the task functions and the click handler, and the function globals
    assert list(tables) == ["DeploymentsTable", "LocksTable", "FunctionsTable"]
    assert {"ValidateInputFunction", "ApprovalFunction", "RecordOutcomeFunction", "CleanUpFunction"} <= set(functions)
    assert template.function_globals()["Handler"] == "app.lambda_handler"
    assert template.function_globals()["Environment"]["Variables"]["DEPLOYMENTS_TABLE"] == {"Ref": "DeploymentsTable"}
    assert template.function_globals()["Environment"]["Variables"]["LOCKS_TABLE"] == {"Ref": "LocksTable"}
    assert template.root == project_root
    assert template.stack_name == "unit-stack"


def test_parameters_take_their_defaults(template):
    # given template.yaml loaded with only the webhook and the function prefix given
    # when its parameters are read
    # then every other parameter has its default, as a string
    declared = template.body["Parameters"]
    assert template.parameters == {
        name: REQUIRED[name] if name in REQUIRED else str(spec["Default"]) for name, spec in declared.items()
    }
    assert template.parameters["Environment"] == "prod" and template.parameters["AliasName"] == "live"


def test_overrides_replace_defaults(project_root):
    # given overrides for a dev stack
    overrides = {**REQUIRED, "Environment": "dev", "PreApprove": "true", "ApprovalTimeoutSeconds": 60}

    # when the template is loaded with them
    template = Template.load(project_root / "template.yaml", overrides, "dev-stack")

    # then they win over the defaults (as strings), and the rest keep their defaults
    assert template.parameters["Environment"] == "dev"
    assert template.parameters["PreApprove"] == "true"
    assert template.parameters["ApprovalTimeoutSeconds"] == "60"
    assert template.parameters["AliasName"] == "live"


def test_an_unknown_override_is_refused_by_name(project_root):
    # given an override for a parameter the template does not have (a typo)
    overrides = {**REQUIRED, "Enviroment": "dev"}

    # when the template is loaded
    # then it is refused, naming the parameter
    with pytest.raises(ValueError, match=r"^unknown template parameters: Enviroment$"):
        Template.load(project_root / "template.yaml", overrides, "typo-stack")


def test_a_parameter_without_default_must_be_given(project_root, tmp_path):
    # given template.yaml's parameters, the first one without its Default (every one of them has a default)
    source = Template.load(project_root / "template.yaml", REQUIRED, "source-stack")
    parameters = source.body["Parameters"]
    name = next(iter(parameters))
    del parameters[name]["Default"]
    path = tmp_path / "template.yaml"
    path.write_text(json.dumps({"Parameters": parameters, "Resources": {}}))  # JSON is YAML

    # when the template is loaded without a value for it
    # then it is refused, naming the parameter and the fix
    with pytest.raises(ValueError, match=rf"^template parameter {name} has no default: pass a value for it$"):
        Template.load(path, {}, "no-default-stack")

    # and with a value, it loads
    assert Template.load(path, {**REQUIRED, name: "given"}, "given-stack").parameters[name] == "given"


@pytest.mark.parametrize(
    ("pseudo", "value"),
    [
        ("AWS::Region", REGION),
        ("AWS::AccountId", ACCOUNT_ID),
        ("AWS::StackName", "unit-stack"),
        ("AWS::Partition", "aws"),
        ("AWS::URLSuffix", "amazonaws.com"),
    ],
)
def test_ref_of_a_pseudo_parameter(template, pseudo, value):
    # given a Ref to a pseudo parameter
    # when it is resolved
    # then it is the local stack's value
    assert template.resolve({"Ref": pseudo}) == value


def test_ref_of_a_parameter_and_of_a_created_resource(template):
    # given the deployments table was created locally
    template.attributes["DeploymentsTable"] = {"Ref": "unit-stack-DeploymentsTable", "Arn": "arn:table"}

    # when Refs to a parameter and to the table are resolved
    # then they give the parameter's value and the table's name
    assert template.resolve({"Ref": "AliasName"}) == "live"
    assert template.resolve({"Ref": "DeploymentsTable"}) == "unit-stack-DeploymentsTable"


def test_get_att_in_list_and_dotted_form(template):
    # given a created function
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:unit-stack-PromoteFunction"
    template.attributes["PromoteFunction"] = {"Ref": "unit-stack-PromoteFunction", "Arn": arn}

    # when Fn::GetAtt is resolved in both of its forms
    # then both give the attribute
    assert template.resolve({"Fn::GetAtt": ["PromoteFunction", "Arn"]}) == arn
    assert template.resolve({"Fn::GetAtt": "PromoteFunction.Arn"}) == arn


def test_a_comma_delimited_list_is_a_list_and_its_join_the_string_the_functions_get(project_root):
    # given the stack's Alarms parameter, set to two alarms and left empty
    two = Template.load(project_root / "template.yaml", {**REQUIRED, "Alarms": "orders-errors,latency"}, "unit-stack")
    empty = Template.load(project_root / "template.yaml", REQUIRED, "unit-stack")

    # when Ref and the functions' ALARMS variable (Fn::Join) are resolved
    variable = two.function_globals()["Environment"]["Variables"]["ALARMS"]

    # then Ref gives a list, as CloudFormation does, and the join a comma-separated string
    assert two.resolve({"Ref": "Alarms"}) == ["orders-errors", "latency"]
    assert two.resolve(variable) == "orders-errors,latency"
    assert empty.resolve(variable) == ""


def test_sub_with_pseudo_parameters_and_parameters(template):
    # given the IAM scope every alias function's policy uses in template.yaml
    policies = template.resources("AWS::Serverless::Function")["PromoteFunction"]["Properties"]["Policies"]
    policy = next(p for p in policies if "Statement" in p)
    resource = policy["Statement"][0]["Resource"]

    # when it is resolved
    # then every pseudo parameter and the prefix parameter are filled in
    assert template.resolve(resource) == f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:my-app-*"


def test_sub_with_its_own_variables_and_an_attribute(template):
    # given a Sub with a variable map and a resource attribute
    template.attributes["CanaryStateMachine"] = {"Ref": "arn:sm", "Arn": "arn:sm", "Name": "unit-stack-canary"}
    value = {"Fn::Sub": ["${Name} runs ${CanaryStateMachine.Name} in ${AWS::Region}", {"Name": {"Ref": "AliasName"}}]}

    # when it is resolved
    # then the variable, the attribute and the pseudo parameter are filled in
    assert template.resolve(value) == "live runs unit-stack-canary in us-east-1"


def test_the_approval_api_url_output_is_rewritten_to_the_local_gateway(template):
    # given the approval API created locally, served at a local URL
    template.attributes["ApprovalApi"] = {"Ref": "approvalapi", "RootResourceId": "root"}
    template.url_rewrites[f"https://approvalapi.execute-api.{REGION}.amazonaws.com"] = "http://127.0.0.1:8765"

    # when the ApprovalApiUrl output is resolved
    url = template.resolve(template.body["Outputs"]["ApprovalApiUrl"]["Value"])

    # then it is the local gateway's URL with the stage
    assert url == "http://127.0.0.1:8765/v1"


def test_containers_are_resolved_throughout(template):
    # given a list and a multi-key map holding intrinsic functions
    value = {"Names": [{"Ref": "AliasName"}, "plain"], "Region": {"Ref": "AWS::Region"}}

    # when it is resolved
    # then every intrinsic inside is resolved and plain values are kept
    assert template.resolve(value) == {"Names": ["live", "plain"], "Region": REGION}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"Fn::GetAtt": ["ValidateInputFunction", "Arn"]},
            "ValidateInputFunction.Arn is not available in the local stack",
        ),
        ({"Ref": "NoSuchResource"}, "NoSuchResource.Ref is not available in the local stack"),
        ({"Fn::Sub": "${StateMachineLogs.Arn}"}, "StateMachineLogs.Arn is not available in the local stack"),
    ],
)
def test_an_attribute_the_local_stack_does_not_have_is_a_clear_error(template, value, message):
    # given nothing created yet
    # when an attribute of a resource is resolved
    # then the error names the resource and the attribute
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        template.resolve(value)


def test_sub_renders_an_escaped_variable_literally(template):
    # given a Sub with an escaped variable
    # when it is resolved
    # then the escape is dropped, as CloudFormation does
    assert template.resolve({"Fn::Sub": "${!Literal} in ${AWS::Region}"}) == "${Literal} in us-east-1"


# --- Conditions, Fn::If and Rules ------------------------------------------------------------------------


def test_the_webhook_secret_holds_the_webhook_only_when_one_is_given(project_root):
    # given template.yaml's SlackWebhookSecret, whose value is an Fn::If on a condition
    given = Template.load(project_root / "template.yaml", REQUIRED, "webhook-stack")
    secret_string = given.body["Resources"]["SlackWebhookSecret"]["Properties"]["SecretString"]
    ((function, (condition, when_true, when_false)),) = secret_string.items()
    assert function == "Fn::If"

    # when it is resolved with a webhook given, and on an app stack with none
    app_stack = Template.load(
        project_root / "template.yaml",
        {
            "SlackMode": "app",
            "SlackBotToken": "xoxb-1",
            "SlackSigningSecret": "s",
            "SlackChannel": "C0CANARY",
            "ManagedFunctionPrefix": "my-app-",
        },
        "app-stack",
    )

    # then the condition holds only with a webhook, and the secret is the webhook or the template's placeholder
    assert (given.condition(condition), app_stack.condition(condition)) == (True, False)
    assert given.resolve(secret_string) == WEBHOOK == given.resolve(when_true)
    assert app_stack.resolve(secret_string) == app_stack.resolve(when_false)
    assert app_stack.resolve(secret_string) != ""


@pytest.fixture
def conditions(template):
    """The loaded template with conditions over the parameters, of every kind the local runtime evaluates."""
    template.body["Conditions"] = {
        "IsProd": {"Fn::Equals": [{"Ref": "Environment"}, "prod"]},
        "IsDev": {"Fn::Equals": ["dev", {"Ref": "Environment"}]},
        "NotDev": {"Fn::Not": [{"Condition": "IsDev"}]},
        "ProdAndLive": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": [{"Ref": "AliasName"}, "live"]}]},
        "DevOrLive": {"Fn::Or": [{"Condition": "IsDev"}, {"Fn::Equals": [{"Ref": "AliasName"}, "live"]}]},
        "DevAndLive": {"Fn::And": [{"Condition": "IsDev"}, {"Fn::Equals": [{"Ref": "AliasName"}, "live"]}]},
        "NumberAsText": {"Fn::Equals": [{"Ref": "ApprovalTimeoutSeconds"}, 3600]},
        "Unsupported": {"Fn::Contains": [["a"], "a"]},
    }
    return template


@pytest.mark.parametrize(
    ("name", "holds"),
    [
        ("IsProd", True),
        ("IsDev", False),
        ("NotDev", True),
        ("ProdAndLive", True),
        ("DevOrLive", True),
        ("DevAndLive", False),
        ("NumberAsText", True),  # parameters are strings; CloudFormation compares them as such
    ],
)
def test_conditions_are_evaluated_as_cloudformation_does(conditions, name, holds):
    # given the default parameters (Environment prod, AliasName live, ApprovalTimeoutSeconds 3600)
    # when a condition is evaluated
    # then it holds or not
    assert conditions.condition(name) is holds


def test_fn_if_picks_a_branch_and_resolves_only_it(conditions):
    # given an Fn::If whose false branch refers to a resource the local stack does not have
    value = {"Fn::If": ["IsProd", {"Ref": "AliasName"}, {"Fn::GetAtt": ["NotCreated", "Arn"]}]}

    # when it is resolved
    # then the true branch is resolved and the other is never touched
    assert conditions.resolve(value) == "live"
    assert conditions.resolve({"Names": [{"Fn::If": ["IsDev", "dev-only", "everywhere"]}]}) == {"Names": ["everywhere"]}


def test_a_condition_function_the_local_runtime_does_not_know_is_a_clear_error(conditions):
    # given a condition using a function the local runtime does not evaluate
    # when it is evaluated
    # then the error names the function
    with pytest.raises(ValueError, match=r"^the local runtime cannot evaluate the condition function Fn::Contains$"):
        conditions.condition("Unsupported")


def test_the_templates_rules_refuse_missing_slack_settings(project_root):
    # given template.yaml's rules and what each asserts for its Slack mode
    rules = Template.load(project_root / "template.yaml", REQUIRED, "rules").body["Rules"]
    descriptions = {
        assertion["AssertDescription"] for rule in rules.values() for assertion in rule.get("Assertions", [])
    }

    # when the template is loaded in webhook mode without a webhook, and in app mode without its settings
    refused = set()
    for overrides in ({}, {"SlackMode": "app"}):
        with pytest.raises(ValueError) as error:
            Template.load(
                project_root / "template.yaml", {**overrides, "ManagedFunctionPrefix": "*"}, "missing-settings"
            )
        refused.add(str(error.value))

    # then each is refused with the description of one of the template's own assertions
    assert refused <= descriptions
    assert len(refused) == 2


def test_every_function_that_posts_links_is_given_the_apis_address(template, project_root):
    # given the functions whose handlers build a messenger (it signs approve / roll-back links against the API)
    functions = template.resources("AWS::Serverless::Function")
    posting = {
        logical_id
        for logical_id, spec in functions.items()
        if "aws.messenger(" in (project_root / spec["Properties"]["CodeUri"] / "app.py").read_text()
    }

    # when their own environment variables are read (each runs in an environment of its own)
    without = {
        logical_id
        for logical_id in posting
        if "APPROVAL_API_URL" not in functions[logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    }

    # then each has the API's address: none posts a link without a host
    assert posting >= {"RequestApprovalFunction", "CheckCanaryFunction"}
    assert without == set()
