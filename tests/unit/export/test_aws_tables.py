"""What only DynamoDB has, through the Lambda shim on moto: one type per key attribute,
physical table names, attribute values, a missing table. The table contract itself runs on
DynamoDB too, as one more engine of tests/contract/test_tables.py (tests/dynamo_engine.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hubbub.errors import BadRequest, UsageError
from hubbub.tables import ConditionFailed, IfEquals, TableSpec
from hubbub.tables.base import begins_with, between, eq, gt

pytest.importorskip("moto")
from tests.dynamo_engine import DynamoTableEngine  # noqa: E402

from hubbub.aws.dynamodb import DynamoTable, from_attr, to_attr  # noqa: E402


@pytest.fixture
async def dynamo(clock: Any) -> AsyncIterator[DynamoTableEngine]:
    engine = DynamoTableEngine(clock)
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()


def spec() -> TableSpec:
    return TableSpec("messages", "room", "ts", "expires")


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 2**62, 1.5, -0.25, 1e-5, "",
                                   "héllo", [], [1, "a", None], {}, {"a": {"b": [True]}}])
def test_attribute_values_round_trip(value: Any) -> None:
    assert from_attr(to_attr(value)) == value


@pytest.mark.parametrize("sk_type, item", [("N", {"room": "r", "ts": "1"}),
                                           ("N", {"room": 5, "ts": 1}),
                                           ("S", {"room": "r", "ts": 1})])
async def test_keys_of_the_other_type_are_refused(dynamo: DynamoTableEngine, sk_type: Any,
                                                  item: Any) -> None:
    t = dynamo.table(spec(), sk_type)
    with pytest.raises(BadRequest, match="DynamoDB type"):
        await t.put(item)


async def test_keys_of_the_other_type_find_nothing(dynamo: DynamoTableEngine) -> None:
    # As locally, where such a key simply matches nothing (DynamoDB itself would refuse it).
    t = dynamo.table(spec())
    await t.put({"room": "r", "ts": 1})
    assert await t.get(5, 1) is None
    assert await t.get("r", "1") is None
    assert await t.delete("r", "1") is False
    with pytest.raises(ConditionFailed):
        await t.delete("r", "1", condition=IfEquals("v", 1))
    assert (await t.query(5)).items == []
    for cond in [eq("1"), gt("0"), begins_with("1"), between("0", "9")]:
        assert (await t.query("r", cond)).items == []
    assert await t.get("r", 1) == {"room": "r", "ts": 1}


async def test_physical_name_is_the_dynamodb_table(dynamo: DynamoTableEngine,
                                                   clock: Any) -> None:
    dynamo.client.create_table(
        TableName="stack-Messages-ABC123", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "room", "KeyType": "HASH"},
                   {"AttributeName": "ts", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "room", "AttributeType": "S"},
                              {"AttributeName": "ts", "AttributeType": "N"}])
    t = DynamoTable(spec(), dynamo.client, physical_name="stack-Messages-ABC123",
                    key_types=("S", "N"), clock=clock)
    await t.put({"room": "r", "ts": 1, "text": "hi"})
    raw = dynamo.client.get_item(TableName="stack-Messages-ABC123",
                                 Key={"room": {"S": "r"}, "ts": {"N": "1"}})
    assert raw["Item"]["text"] == {"S": "hi"}


async def test_sweep_on_demand_is_refused(dynamo: DynamoTableEngine) -> None:
    with pytest.raises(UsageError, match="no sweep on demand"):
        await dynamo.sweep_expired()


async def test_missing_table_is_a_clear_error(dynamo: DynamoTableEngine, clock: Any) -> None:
    t = DynamoTable(TableSpec("absent", "room", "ts"), dynamo.client, clock=clock)
    with pytest.raises(BadRequest, match="absent.*ResourceNotFound"):
        await t.get("r", "1")
