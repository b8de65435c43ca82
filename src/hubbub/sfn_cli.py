"""``hubbub sfn start|describe|history|list``: state machines from the command line.

The command works on the node's data, not through a running server: it opens the table
engine the config names (the same SQLite file or PostgreSQL database ``hubbub serve``
uses), where executions and the machines functions created are kept.

- ``describe EXECUTION`` / ``history EXECUTION`` print DescribeExecution /
  GetExecutionHistory as JSON (by name or ARN); exit 1 when there is no such execution.
- ``list [MACHINE]`` prints the executions, newest first, one per line.
- ``start MACHINE --input JSON [--name NAME]`` runs the execution here, to its end (like
  StartSyncExecution), with the application's functions as its tasks, records it where
  the server keeps executions and prints its summary; exit 0 when it SUCCEEDED, 1
  otherwise. This process has no broker: a task that publishes fails with a clear error
  (start such machines from a function or a rule of a running server).
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from hubbub.app import load_app
from hubbub.broker.hooks import Identity
from hubbub.config import Config
from hubbub.errors import BadRequest, UsageError
from hubbub.tables import create_table_engine
from hubbub.tables.base import TableEngine, TableSpec


def open_engine(cfg: Config) -> TableEngine:
    """The table engine ``hubbub serve`` would open for ``cfg``."""
    if cfg.table_engine == "sqlite":
        return create_table_engine("sqlite", Path(cfg.data) / "tables.sqlite3")
    if cfg.table_engine == "postgres":
        return create_table_engine("postgres", cfg.postgres_dsn)
    return create_table_engine("memory")


async def _no_broker(topic: str, payload: bytes, qos: int, retain: bool,
                     origin: Identity) -> None:
    raise UsageError(f"publish to {topic!r}: `hubbub sfn start` runs the execution in this "
                     "process, which has no broker; start it from a running server instead")


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "-"
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def sfn_command(cfg: Config, action: str, target: str | None, input_json: str,
                      name: str | None, *, out: TextIO | None = None) -> int:
    """Run one ``hubbub sfn`` action; returns the process exit code (2: usage error)."""
    from hubbub.functions.runtime import FunctionRuntime, load_handler
    from hubbub.services import Services
    from hubbub.workflow_wiring import (
        MACHINES_TABLE,
        ExecutionNotFound,
        RecentExecutions,
        StateMachineNotFound,
        Workflows,
        make_invoker,
    )
    from hubbub.workflows import InvalidDefinition, StateMachineRunner, TableExecutionStore

    out = out or sys.stdout
    if action in ("start", "describe", "history") and not target:
        what = "state machine" if action == "start" else "execution"
        print(f"hubbub: sfn {action} needs a {what} name", file=sys.stderr)
        return 2
    if action not in ("start", "describe", "history", "list"):
        print(f"hubbub: unknown sfn action {action!r}", file=sys.stderr)
        return 2
    try:
        payload = json.loads(input_json) if input_json else {}
    except ValueError as exc:
        print(f"hubbub: --input is not JSON: {exc}", file=sys.stderr)
        return 2

    async with AsyncExitStack() as stack:
        engine = open_engine(cfg)
        await engine.open()
        stack.push_async_callback(engine.close)
        app = load_app(cfg.app)
        functions = FunctionRuntime()
        backend = Identity(principal_id="hubbub:backend", client_id="")
        services = Services(publish=_no_broker, backend=backend,
                            backend_authorizer=None, functions=functions,
                            tables={d.name: engine.table(d) for d in app.tables.values()},
                            settings={**app.settings, **cfg.extra})
        invoke = make_invoker(services.call)
        runner = StateMachineRunner(invoke, store=TableExecutionStore(engine))
        stack.push_async_callback(runner.aclose)
        wf = Workflows(runner, has_function=lambda n: n in functions, clock=time.time,
                       machines_table=engine.table(TableSpec(MACHINES_TABLE, "pk", "sk")),
                       express=StateMachineRunner(invoke, store=RecentExecutions()))
        services.workflows = wf
        try:
            if action == "describe":
                _print(await wf.describe_execution(str(target)), out)
            elif action == "history":
                _print(await wf.get_execution_history(str(target)), out)
            elif action == "list":
                rows = (await wf.list_executions(target))["executions"]
                print(f"{'STATUS':<10} {'STARTED':<21} {'STOPPED':<21} NAME", file=out)
                for r in rows:
                    print(f"{r['status']:<10} {_when(r['startDate']):<21} "
                          f"{_when(r.get('stopDate')):<21} {r['name']}", file=out)
            else:
                for spec in app.functions.values():
                    functions.register(spec, load_handler(app.root, app.name, spec.handler))
                for mname, definition in app.state_machines.items():
                    wf.register(mname, wf.machine(definition, mname))
                await wf.load_created()
                result = await wf.start_sync_execution(str(target), payload, name)
                _print(result, out)
                return 0 if result["status"] == "SUCCEEDED" else 1
        except (ExecutionNotFound, StateMachineNotFound) as exc:
            print(f"hubbub: {exc}", file=sys.stderr)
            return 1
        except InvalidDefinition as exc:
            print(f"hubbub: {exc}", file=sys.stderr)
            return 2
        except BadRequest as exc:
            print(f"hubbub: {exc}", file=sys.stderr)
            return 2
    return 0


def _print(value: Any, out: TextIO) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False), file=out)
