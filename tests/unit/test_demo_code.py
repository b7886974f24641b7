"""lambda_canary.demo's deployment packages: a sample build, and a faulty one that fails a share of its calls."""

from __future__ import annotations

import importlib.util
import io
import random
import zipfile

import pytest

from lambda_canary.demo import faulty_code, sample_code


def handler_of(package, tmp_path):
    """The handler of a deployment package, loaded from its app.py as Lambda's runtime loads it."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        archive.extractall(tmp_path)
    spec = importlib.util.spec_from_file_location(f"app_{tmp_path.name}", tmp_path / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def failures(handler, calls):
    failed = 0
    for _ in range(calls):
        try:
            assert handler({}, None) == {"build": 2}
        except RuntimeError as error:
            assert "build 2 failed" in str(error)
            failed += 1
    return failed


def test_a_faulty_build_fails_about_the_share_asked(tmp_path):
    # given build 2's faulty package, failing a fifth of its invocations, and a seeded draw
    handler = handler_of(faulty_code(2, 0.2), tmp_path)
    random.seed(760)

    # when its handler is called 2,000 times
    failed = failures(handler, 2000)

    # then about 400 failed (binomial: 328..472 is four standard deviations each side), the others answered
    assert 328 <= failed <= 472


@pytest.mark.parametrize(("share", "expected"), [(0.0, 0), (1.0, 50)])
def test_a_share_of_none_or_all_fails_never_or_always(tmp_path, share, expected):
    # given a package failing none or all of its invocations; when it is called 50 times
    # then it failed that many
    assert failures(handler_of(faulty_code(2, share), tmp_path), 50) == expected


def test_the_sample_build_never_fails(tmp_path):
    # given build 2's sample package; when it is called 50 times, then it never failed
    assert failures(handler_of(sample_code(2), tmp_path), 50) == 0


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_a_share_outside_0_to_1_is_refused_naming_it(share):
    # when a faulty package is asked for with a share that is not one, then the error names the field
    with pytest.raises(ValueError, match="failure_share must be between 0 and 1"):
        faulty_code(2, share)
