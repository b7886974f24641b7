"""Old versions pruned: after a deployment ends, each of its functions keeps the newest KeepVersions (10)
versions and every version an alias references; older ones are deleted, read back with boto3."""

from __future__ import annotations

import time

from canary_testing.fleet import ship_code

KEEP_VERSIONS = 10  # the template's default


def versions(fleet, name: str) -> list[str]:
    pages = fleet.lam.get_paginator("list_versions_by_function").paginate(FunctionName=name)
    return [version["Version"] for page in pages for version in page["Versions"]]


def test_versions_beyond_the_newest_ten_that_no_alias_references_are_deleted_after_a_deployment(make_fleet):
    # given a function released twelve times (versions 1 to 12, alias live on 12) with alias "pinned" on 2,
    # and build 13's code uploaded
    fleet = make_fleet(1, ship=False)
    (name,) = fleet.names
    for build in range(2, 13):
        ship_code(fleet.lam, name, build)
        fleet.lam.publish_version(FunctionName=name)
    fleet.lam.update_alias(FunctionName=name, Name="live", FunctionVersion="12")
    fleet.lam.create_alias(FunctionName=name, Name="pinned", FunctionVersion="2")
    fleet.build_no = 13
    ship_code(fleet.lam, name, 13)

    # when build 13 is deployed and promoted
    assert fleet.wait(fleet.start(pre_approve=True))["status"] == "SUCCEEDED"

    # then, once Clean Up has had the ending event, the newest ten (4 to 13), version 2 (an alias's) and
    # $LATEST are left: 1 and 3 are deleted, and the trail says so
    expected = ["$LATEST", "2", *[str(v) for v in range(4, 14)]]
    deadline = time.monotonic() + 30
    while versions(fleet, name) != expected:
        assert time.monotonic() < deadline, f"versions after the ending: {versions(fleet, name)}"
        time.sleep(0.2)
    assert fleet.aliases() == {name: ("13", {})}
    (noted,) = [event for event in fleet.item()["trail"] if event["event"] == "old versions pruned"]
    assert sorted(noted["deleted"][name]) == ["1", "3"]
