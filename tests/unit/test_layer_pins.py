"""core/requirements.txt (what the stack's layer installs, `sam build`) pins what the tests ran with.

The layer's packages come before the Lambda runtime's on the function's path: a botocore there shadows the
runtime's, under the runtime's boto3. aws-xray-sdk (powertools[tracer]) pulls botocore in, so pip would put
the newest botocore in the layer unless it is pinned: the layer pins boto3 and botocore, both, to the versions
pyproject.toml pins and the tests run with.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import version

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def _requirements(lines):
    return {
        canonicalize_name(requirement.name): requirement
        for requirement in (Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip())
    }


def _layer(project_root):
    return _requirements((project_root / "core" / "requirements.txt").read_text().splitlines())


def _project(project_root):
    return _requirements(tomllib.loads((project_root / "pyproject.toml").read_text())["project"]["dependencies"])


def test_every_package_the_layer_names_is_pinned_as_pyproject_pins_it(project_root):
    # given the layer's requirements and the project's
    layer, project = _layer(project_root), _project(project_root)

    # when each package the layer names is compared with the project's pin
    differing = {name: (str(r.specifier), str(project[name].specifier)) for name, r in layer.items() if name in project}
    differing = {name: pins for name, pins in differing.items() if pins[0] != pins[1]}
    unpinned = [name for name, r in layer.items() if not str(r.specifier).startswith("==")]

    # then each is pinned exactly, to the same version
    assert differing == {}
    assert unpinned == []


def test_the_layer_pins_boto3_and_botocore_together_to_the_versions_the_tests_run_with(project_root):
    # given the layer's requirements
    layer = _layer(project_root)

    # when boto3 and botocore are looked up in them
    pins = {name: str(layer[name].specifier) for name in ("boto3", "botocore") if name in layer}

    # then both are pinned (never a newer botocore under the runtime's boto3), to what this test runs with
    assert pins == {"boto3": f"=={version('boto3')}", "botocore": f"=={version('botocore')}"}
