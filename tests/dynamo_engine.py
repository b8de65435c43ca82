"""moto's DynamoDB as one more table engine, so the table contract runs on the AWS shim.

``hubbub.aws.dynamodb.DynamoTable`` is the table; this adapter adds what the SAM template
and DynamoDB do outside hubbub: it declares each table (``table``) and owns moto's mock.
DynamoDB gives a key attribute one type, so ``table`` takes the sort key's type (N by
default); it has no sweep on demand (DynamoDB deletes expired items itself, "within a few
days"), so ``sweep_expired`` refuses.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any, Literal

from hubbub.errors import UsageError
from hubbub.tables import TableSpec

REGION = "us-east-1"
#: moto refuses items over 400,000 bytes (DynamoDB: 400 KB, by its own measure of the item).
MOTO_MAX_ITEM_BYTES = 400_000
_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


class DynamoTableEngine:
    """A table engine whose tables live in moto's in-process DynamoDB."""

    #: What the contract suite asks of an engine before testing a behaviour.
    mixed_key_types = False
    sweeps = False
    atomic_conditions = False  # moto's, not DynamoDB's: see the contract suite
    max_item_bytes = MOTO_MAX_ITEM_BYTES

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._mock: Any = None
        self._env: dict[str, str | None] = {}
        self.client: Any = None

    async def open(self) -> None:
        import boto3
        import moto

        self._env = {k: os.environ.get(k) for k in _ENV}
        os.environ.update(_ENV)
        self._mock = moto.mock_aws()
        self._mock.start()
        self.client = boto3.client("dynamodb", region_name=REGION)

    async def close(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for k, v in self._env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def table(self, spec: TableSpec, sk_type: Literal["S", "N"] = "N") -> Any:
        from hubbub.aws.dynamodb import DynamoTable

        name = f"{spec.name}-{uuid.uuid4().hex[:6]}"
        self.client.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": spec.partition_key, "KeyType": "HASH"},
                       {"AttributeName": spec.sort_key, "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": spec.partition_key, "AttributeType": "S"},
                                  {"AttributeName": spec.sort_key, "AttributeType": sk_type}])
        return DynamoTable(spec, self.client, physical_name=name, key_types=("S", sk_type),
                           clock=self._clock)

    async def sweep_expired(self) -> int:
        raise UsageError("DynamoDB deletes expired items itself; there is no sweep on demand")
