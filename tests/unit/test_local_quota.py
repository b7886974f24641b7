"""lambda_canary.local.quota.ControlPlaneQuota: Lambda's control-plane request quota, simulated for the local runtime.

Only calls made back to back are checked: a bucket refills with real time, so no test here depends on how long
anything takes, beyond three calls taking less than half a second.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lambda_canary.local import moto_patches
from lambda_canary.local.quota import ControlPlaneQuota, TooManyRequests, quota


@pytest.fixture
def limited() -> ControlPlaneQuota:
    """A quota of 2 requests per second per API, with no latency."""
    fresh = ControlPlaneQuota()
    fresh.configure(rate=2, latency=0.0)
    return fresh


def test_the_call_over_the_rate_is_refused_with_the_error_aws_returns(limited):
    # given a quota of 2 requests per second
    # when UpdateAlias is called three times at once
    limited.admit("UpdateAlias")
    limited.admit("UpdateAlias")
    with pytest.raises(TooManyRequests) as refused:
        limited.admit("UpdateAlias")

    # then the third is refused as AWS refuses it: TooManyRequestsException, HTTP 429, caller rate limit
    assert refused.value.error_type == "TooManyRequestsException"
    assert refused.value.code == 429
    body = json.loads(refused.value.description)
    assert body["Reason"] == "CallerRateLimitExceeded"
    assert body["message"] == "Rate exceeded"


def test_the_quota_counts_calls_and_throttles_per_api(limited):
    # given a quota of 2 requests per second, with UpdateAlias already over it
    for _ in range(2):
        limited.admit("UpdateAlias")
    with pytest.raises(TooManyRequests):
        limited.admit("UpdateAlias")

    # when GetAlias is called (its own bucket)
    limited.admit("GetAlias")

    # then it is let through, and each API's calls, throttles and last admitted call are counted apart
    assert limited.calls == {"UpdateAlias": 3, "GetAlias": 1}
    assert limited.throttled == {"UpdateAlias": 1}
    assert set(limited.last_admitted) == {"UpdateAlias", "GetAlias"}


def test_reset_counters_clears_the_counts(limited):
    # given some counted calls
    limited.admit("PublishVersion")

    # when the counters are reset
    limited.reset_counters()

    # then nothing is counted
    assert (limited.calls, limited.throttled, limited.last_admitted) == ({}, {}, {})


def test_no_rate_never_throttles():
    # given a quota without a rate (the default: off)
    unlimited = ControlPlaneQuota()

    # when an API is called many times at once
    for _ in range(200):
        unlimited.admit("UpdateAlias")

    # then every call is let through, and counted
    assert unlimited.calls == {"UpdateAlias": 200}
    assert unlimited.throttled == {}


def test_at_one_request_per_second_the_first_call_of_each_api_is_let_through():
    # given a quota of 1 request per second
    one_per_second = ControlPlaneQuota()
    one_per_second.configure(rate=1, latency=0.0)

    # when twenty APIs are each called once
    refused = []
    for index in range(20):
        try:
            one_per_second.admit(f"Api{index}")
        except TooManyRequests:
            refused.append(index)

    # then none is refused: each API has its one request for this second
    assert refused == []

    # and a second call of the same API at once is over the rate
    with pytest.raises(TooManyRequests):
        one_per_second.admit("Api0")
    assert one_per_second.throttled == {"Api0": 1}


def test_below_one_request_per_second_a_burst_of_one_call_is_still_let_through():
    # given a quota of one request every two seconds
    slow = ControlPlaneQuota()
    slow.configure(rate=0.5, latency=0.0)

    # when UpdateAlias is called twice at once
    slow.admit("UpdateAlias")
    with pytest.raises(TooManyRequests):
        slow.admit("UpdateAlias")

    # then the first call went through (the bucket holds at least one call) and only the second was refused
    assert (slow.calls, slow.throttled) == ({"UpdateAlias": 2}, {"UpdateAlias": 1})


@pytest.fixture
def quota_on_get_alias(monkeypatch):
    """moto with the project's "control plane: GetAlias" patch, and the shared quota at 2 requests per second."""
    owner, attribute, replacement = moto_patches.PATCHES["control plane: GetAlias"]
    monkeypatch.setattr(owner, attribute, replacement)
    quota.configure(rate=2, latency=0.0)
    yield quota
    quota.configure(rate=None, latency=0.0)


def test_a_throttled_call_reaches_boto3_as_aws_sends_it(make_function, quota_on_get_alias):
    # given a function with alias "live", and a client that does not retry
    make_function("quota-function")
    client = boto3.client("lambda", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))

    # when GetAlias is called three times at once
    for _ in range(2):
        client.get_alias(FunctionName="quota-function", Name="live")
    with pytest.raises(ClientError) as refused:
        client.get_alias(FunctionName="quota-function", Name="live")

    # then boto3 sees TooManyRequestsException with HTTP 429 (what its retry modes treat as a throttle)
    assert refused.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert (quota_on_get_alias.calls, quota_on_get_alias.throttled) == ({"GetAlias": 3}, {"GetAlias": 1})
