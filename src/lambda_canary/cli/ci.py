"""What `canary start` reads from the CI that runs it, and the execution input it builds from that and the flags.

Pure functions of the environment: no AWS, so each CI's variables are tested as plain dictionaries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Step Functions' execution names: 1 to 80 characters; letters, digits, '-' and '_' are safe everywhere
# (CloudWatch Logs and the console included): anything else becomes '-'.
MAX_EXECUTION_NAME = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Build:
    """The build a CI says it runs: which CI, the repository, the build number and its page."""

    ci: str | None = None
    repository: str | None = None
    build_no: str | None = None
    build_url: str | None = None


def detect(env: Mapping[str, str]) -> Build:
    """The build from the CI's own variables (GitHub Actions, CircleCI, GitLab CI, Jenkins); an empty Build
    outside CI."""
    if env.get("GITHUB_ACTIONS") == "true":
        repository = env.get("GITHUB_REPOSITORY")
        url = None
        if env.get("GITHUB_SERVER_URL") and repository and env.get("GITHUB_RUN_ID"):
            url = f"{env['GITHUB_SERVER_URL']}/{repository}/actions/runs/{env['GITHUB_RUN_ID']}"
        return Build("GitHub Actions", repository, env.get("GITHUB_RUN_NUMBER"), url)
    if env.get("CIRCLECI") == "true":
        user, name = env.get("CIRCLE_PROJECT_USERNAME"), env.get("CIRCLE_PROJECT_REPONAME")
        repository = f"{user}/{name}" if user and name else name
        return Build("CircleCI", repository, env.get("CIRCLE_BUILD_NUM"), env.get("CIRCLE_BUILD_URL"))
    if env.get("GITLAB_CI") == "true":
        # CI_PIPELINE_IID counts the project's pipelines (1, 2, 3 ...); CI_PIPELINE_ID is instance-wide
        return Build("GitLab CI", env.get("CI_PROJECT_PATH"), env.get("CI_PIPELINE_IID"), env.get("CI_PIPELINE_URL"))
    if env.get("JENKINS_URL"):
        return Build(
            "Jenkins",
            _repository_of(env.get("GIT_URL")) or env.get("JOB_NAME"),
            env.get("BUILD_NUMBER"),
            env.get("BUILD_URL"),
        )
    return Build()


def _repository_of(git_url: str | None) -> str | None:
    """owner/name of a git remote URL (https://host/owner/name.git, git@host:owner/name.git)."""
    if not git_url:
        return None
    match = re.search(r"[:/]([^/:]+/[^/]+?)(?:\.git)?/?$", git_url)
    return match.group(1) if match else None


def execution_name(repository: str, build_no: str | int, attempt: int = 1) -> str:
    """repository-build as Step Functions accepts it: `org/app` build 760 is `org-app-760`, and its retries after
    a rejected input `org-app-760-2`, `-3` ... The build number (and attempt) is kept whole; a long repository
    is cut."""
    build = _UNSAFE.sub("-", str(build_no)).strip("-") or "build"
    if attempt > 1:
        build += f"-{attempt}"
    room = MAX_EXECUTION_NAME - len(build) - 1
    repository_part = _UNSAFE.sub("-", repository).strip("-")[: max(room, 1)].strip("-") or "deployment"
    return f"{repository_part}-{build}"[:MAX_EXECUTION_NAME]


class InputProblem(ValueError):
    """The flags or the CI variables cannot make an input; the message names each problem and its fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def build_input(
    build: Build,
    *,
    repository: str | None,
    build_no: str | None,
    functions: Sequence[str],
    weight: float | None = None,
    steps: str | None = None,
    alias: str | None = None,
    approval_timeout: int | None = None,
    build_url: str | None = None,
    pre_approve: bool | None = None,
    supersede: bool = False,
) -> dict[str, Any]:
    """The execution input: the flags first, the CI's variables for what they leave out. Fields not given are
    left out (the stack's parameters fill them in). The state machine's Validate Input checks the rest (weights,
    steps, functions: one place); this only refuses what cannot be sent at all, every problem at once."""
    problems: list[str] = []
    repository = repository or build.repository
    build_no = build_no or build.build_no
    build_url = build_url or build.build_url
    where = f" (not set by {build.ci})" if build.ci else " (no CI variables found)"
    if not repository:
        problems.append(f"--repository: missing{where}; pass --repository my-app")
    if not build_no:
        problems.append(f"--build: missing{where}; pass --build 760 (the CI's build number)")
    number: int | str | None = build_no
    if build_no and re.fullmatch(r"[0-9]{1,18}", build_no):
        number = int(build_no)
    elif build_no:
        problems.append(f"--build: {build_no!r} is not a whole number; pass the CI's build number, e.g. --build 760")
    names = [name for entry in functions for name in entry.replace(",", " ").split()]
    if not names:
        problems.append("--functions: missing; pass the functions to deploy, e.g. --functions my-app-orders my-app-api")
    parsed_steps: Any = None
    if steps is not None:
        try:
            parsed_steps = json.loads(steps)
        except ValueError as error:
            problems.append(
                f"--steps: not JSON ({error}); pass e.g. "
                '\'[{"weight": 0.05, "gate": "manual"}, {"weight": 0.25, "bake_seconds": 600, "gate": "auto"}]\''
            )
    if problems:
        raise InputProblem(problems)
    request: dict[str, Any] = {"repository": repository, "build_no": number, "functions": names}
    optional = {
        "weight": weight,
        "steps": parsed_steps,
        "alias": alias,
        "approval_timeout_seconds": approval_timeout,
        "build_url": build_url,
        "pre_approve": pre_approve,
        "supersede": supersede or None,
    }
    request.update({key: value for key, value in optional.items() if value is not None})
    return request
