"""Where executions are kept: a small ``ExecutionStore`` protocol and two stores.

``MemoryExecutionStore`` is for tests and single runs; ``TableExecutionStore`` keeps
executions in a hubbub table (``hubbub.tables``), so they survive a restart and can be
listed. Items stay under the table's 400 KB item limit by splitting an execution into
several items of one partition (meta, input, output, history chunks).
"""

from __future__ import annotations

import builtins
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from hubbub.workflows.execution import outcome_fields

if TYPE_CHECKING:
    from hubbub.tables.base import Table, TableEngine
    from hubbub.workflows.execution import Execution


@dataclass(frozen=True)
class ExecutionRecord:
    """One execution as stored: everything DescribeExecution and GetExecutionHistory show."""

    name: str
    machine: str
    status: str
    input: Any
    output: Any = None
    error: str | None = None
    cause: str | None = None
    start_date: float = 0.0
    stop_date: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """DescribeExecution-shaped summary (dates as epoch seconds)."""
        d: dict[str, Any] = {"name": self.name, "stateMachine": self.machine,
                             "status": self.status, "input": json.dumps(self.input),
                             "startDate": self.start_date}
        if self.stop_date is not None:
            d["stopDate"] = self.stop_date
        return d | outcome_fields(self.status, self.output, self.error, self.cause)

    @classmethod
    def of(cls, ex: Execution) -> ExecutionRecord:
        return cls(ex.name, ex.machine.name, ex.status, ex.input, ex.output, ex.error,
                   ex.cause, ex.start_date, ex.stop_date, list(ex.history.events))


class ExecutionStore(Protocol):
    async def put(self, record: ExecutionRecord) -> None: ...

    async def get(self, name: str) -> ExecutionRecord | None: ...

    async def list(self, *, machine: str | None = None, status: str | None = None
                   ) -> builtins.list[ExecutionRecord]:
        """Records without their history, oldest first."""
        ...


class MemoryExecutionStore:
    def __init__(self) -> None:
        self._records: dict[str, ExecutionRecord] = {}

    async def put(self, record: ExecutionRecord) -> None:
        self._records[record.name] = record

    async def get(self, name: str) -> ExecutionRecord | None:
        return self._records.get(name)

    async def list(self, *, machine: str | None = None, status: str | None = None
                   ) -> builtins.list[ExecutionRecord]:
        out = [_summary(r) for r in self._records.values()
               if (machine is None or r.machine == machine)
               and (status is None or r.status == status)]
        return sorted(out, key=lambda r: (r.start_date, r.name))


def _summary(r: ExecutionRecord) -> ExecutionRecord:
    d = asdict(r)
    d["history"] = []
    return ExecutionRecord(**d)


#: The table executions live in; the index partition lists them, one partition each holds
#: an execution's parts.
TABLE_NAME = "hubbub_executions"
_INDEX = "index"
_CHUNK_BYTES = 300 * 1024  # below the 400 KB item limit with room for keys


class TableExecutionStore:
    """Executions in a ``hubbub.tables`` table (any engine: memory, sqlite, postgres)."""

    def __init__(self, engine: TableEngine, table_name: str = TABLE_NAME) -> None:
        from hubbub.tables.base import TableSpec

        self.table: Table = engine.table(TableSpec(table_name, "pk", "sk"))

    async def put(self, record: ExecutionRecord) -> None:
        pk = f"exec#{record.name}"
        meta = {k: v for k, v in asdict(record).items() if k not in ("history", "input",
                                                                     "output")}
        await self.table.put({"pk": _INDEX, "sk": record.name, **meta})
        await self.table.put({"pk": pk, "sk": "a:meta", **meta})
        for sk, value in (("b:input", record.input), ("c:output", record.output)):
            for i, part in enumerate(_split(json.dumps(value))):
                await self.table.put({"pk": pk, "sk": f"{sk}:{i:06d}", "text": part})
        chunk: list[dict[str, Any]] = []
        size, n = 0, 0
        for event in record.history:
            b = len(json.dumps(event))
            if chunk and size + b > _CHUNK_BYTES:
                await self.table.put({"pk": pk, "sk": f"h:{n:06d}", "events": chunk})
                chunk, size, n = [], 0, n + 1
            chunk.append(event)
            size += b
        if chunk:
            await self.table.put({"pk": pk, "sk": f"h:{n:06d}", "events": chunk})

    async def get(self, name: str) -> ExecutionRecord | None:
        items = await self._all(f"exec#{name}")
        meta = next((i for i in items if i["sk"] == "a:meta"), None)
        if meta is None:
            return None
        parts: dict[str, builtins.list[str]] = {"b:input": [], "c:output": []}
        history: builtins.list[dict[str, Any]] = []
        for it in items:
            prefix = it["sk"].rsplit(":", 1)[0]
            if prefix in parts:
                parts[prefix].append(it["text"])
            elif it["sk"].startswith("h:"):
                history.extend(it["events"])
        return _record(meta, input=_join(parts["b:input"]), output=_join(parts["c:output"]),
                       history=history)

    async def list(self, *, machine: str | None = None, status: str | None = None
                   ) -> builtins.list[ExecutionRecord]:
        out = []
        for it in await self._all(_INDEX):
            if (machine is None or it["machine"] == machine) and (
                    status is None or it["status"] == status):
                out.append(_record(it, input=None))
        return sorted(out, key=lambda r: (r.start_date, r.name))

    async def _all(self, pk: str) -> builtins.list[dict[str, Any]]:
        items: builtins.list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await self.table.query(pk, limit=1000, cursor=cursor)
            items.extend(page.items)
            if page.next_cursor is None:
                return items
            cursor = page.next_cursor


def _record(meta: dict[str, Any], *, input: Any, output: Any = None,
            history: builtins.list[dict[str, Any]] | None = None) -> ExecutionRecord:
    return ExecutionRecord(
        name=str(meta["name"]), machine=str(meta["machine"]), status=str(meta["status"]),
        input=input, output=output, error=meta.get("error"), cause=meta.get("cause"),
        start_date=float(meta.get("start_date") or 0.0), stop_date=meta.get("stop_date"),
        history=history or [])


def _split(text: str) -> list[str]:
    return [text[i : i + _CHUNK_BYTES // 4] for i in range(0, len(text), _CHUNK_BYTES // 4)] \
        or [""]


def _join(parts: list[str]) -> Any:
    return json.loads("".join(parts)) if parts else None
