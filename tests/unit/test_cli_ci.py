"""lambda_canary.cli.ci: what `canary start` reads from each CI, the input it builds and the execution's name."""

from __future__ import annotations

import pytest

from lambda_canary.cli import main
from lambda_canary.cli.ci import MAX_EXECUTION_NAME, Build, InputProblem, build_input, detect, execution_name

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "acme/orders",
    "GITHUB_RUN_NUMBER": "760",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_RUN_ID": "9988776655",
}
CIRCLECI = {
    "CIRCLECI": "true",
    "CIRCLE_PROJECT_USERNAME": "acme",
    "CIRCLE_PROJECT_REPONAME": "orders",
    "CIRCLE_BUILD_NUM": "761",
    "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/orders/761",
}
GITLAB = {
    "GITLAB_CI": "true",
    "CI_PROJECT_PATH": "acme/orders",
    "CI_PIPELINE_IID": "762",
    "CI_PIPELINE_URL": "https://gitlab.com/acme/orders/-/pipelines/123456",
}
JENKINS = {
    "JENKINS_URL": "https://jenkins.acme.example/",
    "JOB_NAME": "orders/main",
    "GIT_URL": "git@github.com:acme/orders.git",
    "BUILD_NUMBER": "763",
    "BUILD_URL": "https://jenkins.acme.example/job/orders/job/main/763/",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            GITHUB,
            Build("GitHub Actions", "acme/orders", "760", "https://github.com/acme/orders/actions/runs/9988776655"),
        ),
        (CIRCLECI, Build("CircleCI", "acme/orders", "761", "https://circleci.com/gh/acme/orders/761")),
        (GITLAB, Build("GitLab CI", "acme/orders", "762", "https://gitlab.com/acme/orders/-/pipelines/123456")),
        (JENKINS, Build("Jenkins", "acme/orders", "763", "https://jenkins.acme.example/job/orders/job/main/763/")),
        ({"PATH": "/usr/bin"}, Build()),
    ],
    ids=["github", "circleci", "gitlab", "jenkins", "none"],
)
def test_each_ci_names_the_repository_the_build_and_its_page(env, expected):
    # given a CI's own variables; when they are read; then the build is the CI's
    assert detect(env) == expected


def test_jenkins_without_a_git_remote_names_the_job():
    # given Jenkins variables without GIT_URL; when read; then the job's name stands for the repository
    assert detect({**JENKINS, "GIT_URL": ""}).repository == "orders/main"


def test_the_flags_win_over_the_ci_and_fields_not_given_are_left_to_the_stack():
    # given GitHub's variables and flags that name another build
    build = detect(GITHUB)

    # when the input is built with --build 800 and two functions, one listed with a comma
    request = build_input(build, repository=None, build_no="800", functions=["orders-api,payments"])

    # then the repository and the page come from the CI, the build from the flag, and nothing else is set
    assert request == {
        "repository": "acme/orders",
        "build_no": 800,
        "functions": ["orders-api", "payments"],
        "build_url": "https://github.com/acme/orders/actions/runs/9988776655",
    }


def test_weight_steps_alias_and_switches_reach_the_input():
    # when every optional flag is given
    request = build_input(
        Build(), repository="my-app", build_no="7", functions=["a"], steps='[{"weight": 0.1}]', alias="prod",
        pre_approve=False, supersede=True,
    )  # fmt: skip

    # then each is in the input as the state machine reads it
    assert request["steps"] == [{"weight": 0.1}] and request["alias"] == "prod"
    assert request["pre_approve"] is False and request["supersede"] is True
    assert "weight" not in request


def test_every_problem_of_the_flags_is_named_at_once_with_its_fix():
    # when nothing names the build outside CI and the steps are not JSON
    with pytest.raises(InputProblem) as problem:
        build_input(Build(), repository=None, build_no="v7", functions=[], weight=0.1, steps="[{")

    # then each is named with the flag and the fix
    assert [p.split(":")[0] for p in problem.value.problems] == ["--repository", "--build", "--functions", "--steps"]
    assert "(no CI variables found)" in problem.value.problems[0]


@pytest.mark.parametrize(
    ("repository", "build_no", "name"),
    [
        ("my-app", 760, "my-app-760"),
        ("acme/orders", "761", "acme-orders-761"),
        ("a.b c<d>", 1, "a-b-c-d-1"),
        ("x" * 200, 123456789012, "x" * (MAX_EXECUTION_NAME - 13) + "-123456789012"),
    ],
)
def test_the_execution_is_named_repository_build_as_step_functions_accepts(repository, build_no, name):
    # when the name is made; then it keeps the build number whole and only characters every console takes
    made = execution_name(repository, build_no)
    assert made == name
    assert len(made) <= MAX_EXECUTION_NAME


def test_weight_and_steps_together_are_left_to_the_workflow_to_refuse():
    # when --weight and --steps are both given (Validate Input refuses that, naming both: one place)
    request = build_input(Build(), repository="my-app", build_no="7", functions=["a"], weight=0.1, steps="[{}]")

    # then both reach the input as given
    assert (request["weight"], request["steps"]) == (0.1, [{}])


@pytest.mark.parametrize(("attempt", "name"), [(1, "my-app-760"), (2, "my-app-760-2"), (13, "my-app-760-13")])
def test_a_retry_of_a_rejected_build_is_named_with_its_attempt(attempt, name):
    assert execution_name("my-app", 760, attempt) == name


def test_a_long_repository_is_cut_so_the_attempt_fits():
    made = execution_name("x" * 200, 760, 12)
    assert made.endswith("-760-12") and len(made) == MAX_EXECUTION_NAME


def test_start_outside_ci_without_a_build_exits_2_naming_each_flag(monkeypatch, capsys):
    # given no CI variables
    for variable in ("GITHUB_ACTIONS", "CIRCLECI", "GITLAB_CI", "JENKINS_URL"):
        monkeypatch.delenv(variable, raising=False)

    # when `canary start` is run with functions only
    with pytest.raises(SystemExit) as exited:
        main(["start", "--functions", "a", "b", "--state-machine-arn", "arn:aws:states:us-east-1:1:stateMachine:x"])

    # then it exits 2 before calling AWS, naming --repository and --build
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--repository: missing" in err and "--build: missing" in err


def test_every_command_has_a_description_and_an_example(capsys):
    # given the commands `canary --help` lists
    from lambda_canary.cli import cli

    for name, command in cli.commands.items():
        # then each has a description and an example in its help
        assert command.help, name
        assert command.epilog and "canary " in command.epilog, name


def test_audit_passes_its_options_to_the_bypass_audit_and_returns_its_exit_code(monkeypatch, tmp_path):
    # given a bypass audit that records its arguments and finds something (exit 1)
    from lambda_canary import bypass

    calls = []

    def cli_audit(*args):
        calls.append(args)
        return 1

    monkeypatch.setattr(bypass, "cli_audit", cli_audit)
    template = tmp_path / "template.yaml"
    template.write_text("Resources: {}\n")

    # when `canary audit` runs on a template with two functions and the json output
    code = main(["audit", "--template", str(template), "--functions", "a", "b", "--alias", "prod", "--output", "json"])

    # then the audit gets them in order, and its exit code is the command's
    assert code == 1
    (args,) = calls
    assert args[:6] == (template, None, ["a", "b"], None, "prod", "json")
    assert callable(args[6])
