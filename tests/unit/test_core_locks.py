"""canary_core.locks.FunctionLocks on moto, with the locks table template.yaml declares: one deployment per function."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from canary_core.locks import FunctionLocks, Holder
from canary_core.model import FunctionTarget

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:canary:"


@pytest.fixture
def deployment_of(make_deployment):
    """deployment_of(build_no, *functions): my-app build `build_no` over `functions`, run by its own execution."""

    def make(build_no: int, *functions: str, repository: str = "my-app"):
        return make_deployment(
            repository=repository,
            build_no=build_no,
            execution_arn=f"{EXECUTION}{repository}-{build_no}",
            functions=[FunctionTarget(name, ARN + name, "1") for name in functions],
        )

    return make


def lock_items(locks_dynamodb_table) -> dict[str, dict[str, Any]]:
    """{function name: lock item} of every lock in the table."""
    items = locks_dynamodb_table.scan(ConsistentRead=True)["Items"]
    return {item["function_arn"].rsplit(":", 1)[1]: item for item in items}


def test_the_unit_locks_table_is_the_one_template_yaml_declares(locks_dynamodb_table, template_locks_table_properties):
    # given the table the fixture built from template.yaml's LocksTable
    # when its description is read back
    described = locks_dynamodb_table.meta.client.describe_table(TableName=locks_dynamodb_table.name)["Table"]

    # then its key schema and attributes are the template's: one item per function ARN
    template = template_locks_table_properties
    assert described["KeySchema"] == template["KeySchema"]
    assert sorted(described["AttributeDefinitions"], key=str) == sorted(template["AttributeDefinitions"], key=str)
    assert described["BillingModeSummary"]["BillingMode"] == template["BillingMode"]


def test_acquire_locks_every_function_for_the_deployment(locks, locks_dynamodb_table, deployment_of, now):
    # given no lock is held
    deployment = deployment_of(760, "orders-api", "payments")

    # when my-app build 760 acquires its functions
    conflicts = locks.acquire(deployment, now)

    # then there is no conflict, and each function's lock names the deployment, its execution and when
    assert conflicts == {}
    items = lock_items(locks_dynamodb_table)
    assert set(items) == {"orders-api", "payments"}
    assert items["payments"] == {
        "function_arn": ARN + "payments",
        "repository": "my-app",
        "build_no": 760,
        "execution_arn": EXECUTION + "my-app-760",
        "acquired_at": now.isoformat(),
    }


def test_acquire_again_by_the_same_execution_succeeds(locks, locks_dynamodb_table, deployment_of, now):
    # given build 760 holds its function (a retried Validate Input)
    deployment = deployment_of(760, "orders-api")
    locks.acquire(deployment, now)

    # when the same execution acquires it again
    conflicts = locks.acquire(deployment, now)

    # then it still holds it, without a conflict with itself
    assert conflicts == {}
    assert lock_items(locks_dynamodb_table)["orders-api"]["execution_arn"] == EXECUTION + "my-app-760"


def test_a_function_held_by_another_deployment_is_a_conflict_naming_the_holder(
    locks, locks_dynamodb_table, deployment_of, now
):
    # given build 759 holds payments
    older = deployment_of(759, "payments")
    locks.acquire(older, now)

    # when build 760 acquires orders-api and payments
    conflicts = locks.acquire(deployment_of(760, "orders-api", "payments"), now)

    # then payments is a conflict naming build 759 and its execution
    assert conflicts == {"payments": Holder("my-app", 759, EXECUTION + "my-app-759")}
    assert conflicts["payments"].title == "my-app build 759"

    # and the lock build 760 took on orders-api is released again; 759 keeps payments
    items = lock_items(locks_dynamodb_table)
    assert set(items) == {"payments"}
    assert items["payments"]["execution_arn"] == EXECUTION + "my-app-759"


def test_every_conflict_is_reported_with_its_own_holder(locks, deployment_of, now):
    # given two deployments of two repositories each holding one function
    locks.acquire(deployment_of(759, "orders-api"), now)
    locks.acquire(deployment_of(41, "payments", repository="billing"), now)

    # when a third deployment wants both
    conflicts = locks.acquire(deployment_of(760, "orders-api", "payments"), now)

    # then both conflicts come back, each naming its holder
    assert {name: holder.title for name, holder in conflicts.items()} == {
        "orders-api": "my-app build 759",
        "payments": "billing build 41",
    }


def test_release_drops_the_deployments_locks(locks, locks_dynamodb_table, deployment_of, now):
    # given build 760 holds two functions
    deployment = deployment_of(760, "orders-api", "payments")
    locks.acquire(deployment, now)

    # when it releases them
    locks.release(deployment)

    # then no lock is left, and another deployment can take them
    assert lock_items(locks_dynamodb_table) == {}
    assert locks.acquire(deployment_of(761, "orders-api", "payments"), now) == {}


def test_release_leaves_the_locks_of_other_executions(locks, locks_dynamodb_table, deployment_of, now):
    # given build 759 holds payments, and build 760 holds orders-api
    locks.acquire(deployment_of(759, "payments"), now)
    mine = deployment_of(760, "orders-api", "payments")
    locks.acquire(deployment_of(760, "orders-api"), now)

    # when build 760 releases every function it names (payments included)
    locks.release(mine)

    # then only its own lock is gone; build 759 still holds payments
    items = lock_items(locks_dynamodb_table)
    assert set(items) == {"payments"}
    assert items["payments"]["execution_arn"] == EXECUTION + "my-app-759"


def test_release_of_locks_never_taken_is_safe(locks, locks_dynamodb_table, deployment_of):
    # given no lock is held
    # when a deployment releases its functions (Clean Up of an execution whose locks were already released)
    locks.release(deployment_of(760, "orders-api"))

    # then nothing happens
    assert lock_items(locks_dynamodb_table) == {}


def test_held_by_lists_the_functions_someone_holds(locks, deployment_of, now):
    # given build 759 holds payments
    locks.acquire(deployment_of(759, "payments"), now)

    # when build 760 asks which of its functions are held
    # then payments is, by anyone
    assert locks.held_by(deployment_of(760, "orders-api", "payments")) == ["payments"]


class FailingOnePut:
    """The boto3 Table resource, except that putting the lock of `function` fails with a DynamoDB error."""

    def __init__(self, table: Any, function: str) -> None:
        self._table = table
        self._function = function

    def put_item(self, **arguments: Any) -> Any:
        if arguments["Item"]["function_arn"].endswith(":" + self._function):
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem"
            )
        return self._table.put_item(**arguments)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def test_an_error_while_locking_is_raised_and_nothing_is_left_held(locks_dynamodb_table, deployment_of, now):
    # given a table that refuses the lock of payments with a throughput error
    locks = FunctionLocks(FailingOnePut(locks_dynamodb_table, "payments"))

    # when build 760 acquires orders-api and payments
    # then the error is raised, and the lock taken on orders-api was released
    with pytest.raises(ClientError, match="ProvisionedThroughputExceededException"):
        locks.acquire(deployment_of(760, "orders-api", "payments"), now)
    assert lock_items(locks_dynamodb_table) == {}
