"""The unit suite's own guards: no network, fake credentials, and boto3 pointed at nothing but moto's mock."""

from __future__ import annotations

import os
import socket

import boto3
import pytest
from botocore.exceptions import HTTPClientError
from pytest_socket import SocketBlockedError

# pytest-socket warns each time it blocks; here blocking is the point.
pytestmark = pytest.mark.filterwarnings("ignore:A test tried to use socket")


def test_a_unit_test_cannot_open_a_network_socket():
    # given the socket guard of tests/unit
    # when a test opens an internet socket
    # then it is refused
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_a_unit_test_cannot_resolve_a_host_name():
    # given the socket guard of tests/unit
    # when a test resolves a host name (the first step of any real AWS call)
    # then it is refused
    with pytest.raises(SocketBlockedError):
        socket.getaddrinfo("lambda.us-east-1.amazonaws.com", 443)


def test_unit_tests_use_fake_credentials_and_no_endpoint_override():
    # given the unit environment fixture
    # when boto3 builds its configuration
    session = boto3.session.Session()

    # then it has fake credentials, us-east-1, and no endpoint URL from the local runtime
    assert session.get_credentials().access_key == "testing"
    assert session.region_name == "us-east-1"
    assert not [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]
    assert os.environ["POWERTOOLS_TRACE_DISABLED"] == "true"


def test_a_client_outside_the_mock_cannot_reach_aws():
    # given no moto mock is active
    client = boto3.client("lambda")

    # when the client makes a call
    # then it fails before anything leaves the process: the socket guard stops the host name lookup
    with pytest.raises(HTTPClientError, match=r"socket\.getaddrinfo"):
        client.list_functions()
