"""State machines of the application, run by ``hubbub.workflows`` inside the node.

``start_workflows`` builds one ``StateMachineRunner`` whose Task states invoke hubbub
functions (``Services.call``, so a task's sdk calls reach this node), keeps executions in
the node's table engine (``TableExecutionStore``: they survive a restart and can be
listed), marks executions a previous process left RUNNING as ABORTED, validates and
registers the manifest's ``stateMachines``, and hands a ``Workflows`` object to
``Services`` (the rules' ``stepFunctions`` action, ``sdk.start_execution`` and
``sdk.create_state_machine`` reach it there).

``Workflows`` speaks Step Functions' API shapes (StartExecution, StartSyncExecution,
CreateStateMachine, DescribeExecution, GetExecutionHistory, ListExecutions), so what a
function does here maps one to one to boto3 on AWS.

Machines created at run time (``create_state_machine``) are kept in a table as well, so
``hubbub sfn start`` in another process and a restarted node know them. Creating a
machine that exists replaces its definition (AWS would ask for UpdateStateMachine; the
chat's commands re-translate their pipeline on every use, so create-or-update it is).

Stop order: ``node._stack`` unwinds last in, first out; the broker and web were pushed
after us, so they stop first, then ``runner.aclose`` aborts running executions and
records them ABORTED while the table engine (pushed before us) is still open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hubbub.errors import BadRequest, ConfigError, LimitExceeded
from hubbub.functions.runtime import FunctionError
from hubbub.tables.base import TableEngine, TableSpec
from hubbub.workflows import InvalidDefinition, StateMachine, StatesError, validate_definition
from hubbub.workflows.execution import ACCOUNT, REGION
from hubbub.workflows.runner import StateMachineRunner, function_name
from hubbub.workflows.states import LAMBDA_INVOKE, iter_states
from hubbub.workflows.store import (
    ExecutionRecord,
    ExecutionStore,
    MemoryExecutionStore,
    TableExecutionStore,
)

log = logging.getLogger("hubbub.workflows")

#: Table of the machines created at run time (the manifest's are re-read at every start).
MACHINES_TABLE = "hubbub_state_machines"
#: Executions running at once on this node; more are refused with ExecutionLimitExceeded
#: (a throttle, like AWS's open-executions quota) so a burst of chat commands cannot take
#: the node's memory or the functions' concurrency from the chat itself.
MAX_RUNNING = 200
#: EXPRESS executions kept (in memory) for describe/list/history.
EXPRESS_KEPT = 200
TYPES = ("STANDARD", "EXPRESS")


class StateMachineNotFound(BadRequest):
    """StartExecution named a machine that neither the manifest nor a function created."""

    http_status = 404


class ExecutionNotFound(BadRequest):
    http_status = 404


class ExecutionAlreadyExists(BadRequest):
    http_status = 409


def machine_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


def execution_arn(machine: str, name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine}:{name}"


def _last(ref: str) -> str:
    """A machine or execution named by name or by ARN (the name is the last part)."""
    return ref.rsplit(":", 1)[-1] if ref.startswith("arn:aws:states:") else ref


def task_functions(defn: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(location, function name) of every Task that invokes a function, nested included."""
    out: list[tuple[str, str]] = []

    for here, st in iter_states(defn):
        res = st.get("Resource")
        if st.get("Type") == "Task" and isinstance(res, str):
            if res.startswith(LAMBDA_INVOKE):
                fn = (st.get("Parameters") or st.get("Arguments") or {}).get("FunctionName")
                if isinstance(fn, str):
                    out.append((f"{here}/Parameters/FunctionName", function_name(fn)))
            elif not res.startswith("arn:aws:states:"):
                out.append((f"{here}/Resource", function_name(res)))
    return out


class RecentExecutions(MemoryExecutionStore):
    """Where EXPRESS executions go: the last ``limit`` in memory, not kept across a
    restart (AWS keeps no history of Express executions either, only optional logs)."""

    def __init__(self, limit: int = EXPRESS_KEPT) -> None:
        super().__init__()
        self.limit = limit

    async def put(self, record: ExecutionRecord) -> None:
        records = self._records
        records.pop(record.name, None)
        records[record.name] = record
        while len(records) > self.limit:
            del records[next(iter(records))]


class Workflows:
    """The node's state machines, with Step Functions' API shapes."""

    def __init__(self, runner: StateMachineRunner, *, has_function: Callable[[str], bool],
                 machines_table: Any = None, clock: Callable[[], float],
                 express: StateMachineRunner | None = None,
                 max_running: int = MAX_RUNNING) -> None:
        self.runner = runner
        self.express = express or runner
        self.machines: dict[str, StateMachine] = {}
        self.types: dict[str, str] = {}
        self._has_function = has_function
        self._table = machines_table
        self._clock = clock
        self._max_running = max_running
        self._running = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- machines ----------------------------------------------------------------------

    def machine(self, definition: Mapping[str, Any] | str, name: str,
                type: str = "STANDARD") -> StateMachine:
        """Validate a definition (ASL rules, then that every Task names a function)."""
        if type not in TYPES:
            raise BadRequest(f"a state machine type is STANDARD or EXPRESS, not {type!r}")
        defn = json.loads(definition) if isinstance(definition, str) else dict(definition)
        if type == "EXPRESS" and (problems := validate_definition(defn, machine_type=type)):
            raise InvalidDefinition(problems)
        m = StateMachine.from_definition(defn, name)
        for where, fn in task_functions(m.definition):
            if not self._has_function(fn):
                raise BadRequest(f"{where}: no function {fn!r} in this application")
        return m

    def register(self, name: str, machine: StateMachine, type: str = "STANDARD") -> None:
        self.machines[name] = machine
        self.types[name] = type

    async def create_state_machine(self, name: str, definition: Mapping[str, Any] | str,
                                   type: str = "STANDARD") -> dict[str, Any]:
        """CreateStateMachine (create or replace); raises ``InvalidDefinition``.
        ``type`` EXPRESS keeps its executions in memory only (the last ``EXPRESS_KEPT``)."""
        if not isinstance(name, str) or not 1 <= len(name) <= 80 or any(
                c in name for c in " ?*<>{}[]:;,\\|^~$#%&`\"/"):
            raise BadRequest(f"invalid state machine name {name!r}")
        m = self.machine(definition, name, type)
        self.register(name, m, type)
        now = self._clock()
        if self._table is not None:
            await self._table.put({"pk": "machine", "sk": name, "created": now, "type": type,
                                   "definition": json.dumps(m.definition)})
        return {"stateMachineArn": machine_arn(name), "creationDate": now}

    async def load_created(self) -> int:
        """Machines functions created before a restart (the manifest's take precedence)."""
        if self._table is None:
            return 0
        n, cursor = 0, None
        while True:
            page = await self._table.query("machine", limit=100, cursor=cursor)
            for it in page.items:
                if it["sk"] in self.machines:
                    continue
                try:
                    self.register(it["sk"], StateMachine.from_definition(
                        json.loads(it["definition"]), it["sk"]), it.get("type", "STANDARD"))
                    n += 1
                except (InvalidDefinition, ValueError) as exc:  # e.g. a stricter validator
                    log.warning("state machine %s created earlier is not loaded: %s",
                                it["sk"], exc)
            cursor = page.next_cursor
            if cursor is None:
                return n

    def _get(self, state_machine: str) -> StateMachine:
        m = self.machines.get(_last(state_machine))
        if m is None:
            raise StateMachineNotFound(f"State Machine Does Not Exist: {state_machine!r}")
        return m

    def _runner(self, m: StateMachine) -> StateMachineRunner:
        return self.express if self.types.get(m.name) == "EXPRESS" else self.runner

    def _stores(self) -> list[ExecutionStore]:
        stores = [self.runner.store]
        if self.express is not self.runner:
            stores.append(self.express.store)
        return stores

    async def _record(self, name: str) -> ExecutionRecord | None:
        for store in self._stores():
            if (rec := await store.get(name)) is not None:
                return rec
        return None

    # -- executions --------------------------------------------------------------------

    async def _admit(self, state_machine: str, name: str | None) -> tuple[StateMachine, str]:
        m = self._get(state_machine)
        if self._running >= self._max_running:
            raise LimitExceeded(f"ExecutionLimitExceeded: {self._running} executions running")
        name = name or str(uuid.uuid4())
        if not 1 <= len(name) <= 80:
            raise BadRequest(f"invalid execution name {name[:100]!r}")
        if await self._record(name) is not None:
            raise ExecutionAlreadyExists(f"Execution Already Exists: {name!r}")
        return m, name

    async def start_execution(self, state_machine: str, input: Any = None,
                              name: str | None = None) -> dict[str, Any]:
        """StartExecution: runs in the background; returns ``executionArn``, ``startDate``."""
        m, name = await self._admit(state_machine, name)
        now = self._clock()
        self._running += 1
        task = self._runner(m).start(m, {} if input is None else input, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return {"executionArn": execution_arn(m.name, name), "startDate": now}

    async def start_sync_execution(self, state_machine: str, input: Any = None,
                                   name: str | None = None) -> dict[str, Any]:
        """StartSyncExecution (Express, synchronous): runs to the end and returns its
        summary (``status``, ``output`` as JSON text, or ``error`` and ``cause``). The
        machine's ``TimeoutSeconds`` bounds it."""
        m, name = await self._admit(state_machine, name)
        self._running += 1
        try:
            ex = await self._runner(m).run(m, {} if input is None else input, name=name)
        finally:
            self._running -= 1
        out = _summary(ExecutionRecord.of(ex))
        out["stateMachineArn"] = machine_arn(m.name)
        return out

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._running -= 1
        if not task.cancelled() and (exc := task.exception()) is not None:
            # the interpreter turns task errors into FAILED; this is the store failing
            log.error("a background execution could not be run or saved", exc_info=exc)

    @property
    def running(self) -> int:
        """Executions running now (started or sync)."""
        return self._running

    async def wait_idle(self) -> None:
        """Wait until every background execution started so far has ended (tests, the
        benchmark and ``hubbub sfn``); executions they start meanwhile are waited for too."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def describe_execution(self, execution: str) -> dict[str, Any]:
        """DescribeExecution (by ARN or name)."""
        rec = await self._record(_last(execution))
        if rec is None:
            raise ExecutionNotFound(f"Execution Does Not Exist: {execution!r}")
        out = _summary(rec)
        out["stateMachineArn"] = machine_arn(rec.machine)
        return out

    async def get_execution_history(self, execution: str) -> dict[str, Any]:
        """GetExecutionHistory: ``{"events": [...]}`` oldest first."""
        rec = await self._record(_last(execution))
        if rec is None:
            raise ExecutionNotFound(f"Execution Does Not Exist: {execution!r}")
        return {"events": rec.history}

    async def list_executions(self, state_machine: str | None = None,
                              status: str | None = None) -> dict[str, Any]:
        """ListExecutions, newest first (AWS's order)."""
        recs: list[ExecutionRecord] = []
        for store in self._stores():
            recs += await store.list(machine=_last(state_machine) if state_machine else None,
                                     status=status)
        recs.sort(key=lambda r: (r.start_date, r.name))
        return {"executions": [
            {"executionArn": execution_arn(r.machine, r.name), "name": r.name,
             "stateMachineArn": machine_arn(r.machine), "status": r.status,
             "startDate": r.start_date, **({"stopDate": r.stop_date} if r.stop_date else {})}
            for r in reversed(recs)]}


def _summary(rec: ExecutionRecord) -> dict[str, Any]:
    d = rec.describe()
    d["executionArn"] = execution_arn(rec.machine, rec.name)
    return d


def make_invoker(call: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """Task resources name hubbub functions (bare name, Lambda ARN, or the optimized
    ``arn:aws:states:::lambda:invoke`` integration). A function's error fails the task
    with its ``errorType`` as the error name and Lambda's error payload as the cause."""

    async def invoke(resource: str, input: Any) -> Any:
        integration = resource.startswith(LAMBDA_INVOKE)
        if integration:
            if not isinstance(input, dict) or not isinstance(input.get("FunctionName"), str):
                raise StatesError("States.Runtime", "lambda:invoke needs a FunctionName")
            fn, event = function_name(input["FunctionName"]), input.get("Payload")
        elif resource.startswith("arn:aws:states:"):
            raise StatesError("States.Runtime", f"hubbub does not integrate {resource!r}")
        else:
            fn, event = function_name(resource), input
        try:
            out = await call(fn, event)
        except FunctionError as exc:
            error = exc.error_type
            if error == "ResourceNotFoundException":
                error = "Lambda.ResourceNotFoundException"
            raise StatesError(error, json.dumps(exc.payload())) from None
        if integration:  # the integration wraps the function's result like Invoke's response
            return {"Payload": out, "StatusCode": 200, "ExecutedVersion": "$LATEST"}
        return out

    return invoke


async def start_workflows(node: Any, data: Path) -> None:
    """Build the runner and the ``Workflows`` object, register the manifest's machines."""
    engine: TableEngine = node._table_engine
    services = node.services
    invoke = make_invoker(services.call)
    runner = StateMachineRunner(invoke, clock=node._clock, store=TableExecutionStore(engine))
    express = StateMachineRunner(invoke, clock=node._clock, store=RecentExecutions())
    table = engine.table(TableSpec(MACHINES_TABLE, "pk", "sk"))
    wf = Workflows(runner, has_function=lambda n: n in services.functions,
                   machines_table=table, clock=node._clock, express=express)
    for name, definition in node.app.state_machines.items():
        try:
            wf.register(name, wf.machine(definition, name))
        except InvalidDefinition as exc:
            raise ConfigError(f"stateMachines.{name}: invalid definition: " + "; ".join(
                f"{d.location or '/'}: {d.message}" for d in exc.diagnostics)) from None
        except BadRequest as exc:
            raise ConfigError(f"stateMachines.{name}: {exc}") from None
    await wf.load_created()
    await runner.abort_interrupted()
    node._stack.push_async_callback(runner.aclose)
    node._stack.push_async_callback(express.aclose)
    services.workflows = wf
