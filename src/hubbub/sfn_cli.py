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
- ``test-state --definition FILE --input JSON [--state NAME] [--mock-result JSON |
  --mock-error NAME [--mock-cause TEXT]] [--inspection-level INFO|DEBUG|TRACE]`` runs one
  state (Step Functions' TestState) and prints its answer; exit 0 when SUCCEEDED, 1 for
  FAILED, RETRIABLE or CAUGHT_ERROR, 2 for a request that cannot run. A Task without a
  mock calls the application's function (the app is loaded only then).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hubbub.config import Config
from hubbub.errors import BadRequest, UsageError

if TYPE_CHECKING:  # the command's parts are imported when it runs: `hubbub --help` stays fast
    from hubbub.broker.hooks import Identity
    from hubbub.tables.base import TableEngine
    from hubbub.workflows.teststate import StateTestRequest

#: TestState's inspection levels (hubbub.workflows.teststate.LEVELS).
LEVELS = ("INFO", "DEBUG", "TRACE")


def open_engine(cfg: Config) -> TableEngine:
    """The table engine ``hubbub serve`` would open for ``cfg``."""
    from hubbub.tables import create_table_engine

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
    from hubbub.app import load_app
    from hubbub.broker.hooks import Identity
    from hubbub.functions.runtime import FunctionRuntime, load_handler
    from hubbub.services import Services
    from hubbub.tables.base import TableSpec
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


def add_test_state_options(parser: argparse.ArgumentParser) -> None:
    """The ``hubbub sfn test-state`` options (the action itself is one of sfn's)."""
    g = parser.add_argument_group("test-state (one state, as Step Functions' TestState)")
    g.add_argument("--definition", help="a state or a whole state machine, as a JSON file "
                   "('-' reads standard input)")
    g.add_argument("--state", help="the state to test in a whole state machine "
                   "(default: its StartAt)")
    g.add_argument("--mock-result", help="JSON the Task (or the whole Map/Parallel) returns")
    g.add_argument("--mock-error", help="the error name the Task fails with instead")
    g.add_argument("--mock-cause", help="the cause that goes with --mock-error")
    g.add_argument("--inspection-level", default="INFO", type=str.upper, choices=LEVELS,
                   help="INFO: the outcome; DEBUG/TRACE: each processing step too")
    g.add_argument("--variables", help="workflow variables as a JSON object")
    g.add_argument("--context", help="the context object ($$) as a JSON object")
    g.add_argument("--retry-count", type=int, default=None,
                   help="how many times the matching retrier already retried")


async def test_state_command(cfg: Config, args: argparse.Namespace, *,
                             out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``hubbub sfn test-state``: print TestState's answer as JSON; the exit code says how
    the state ended (0 SUCCEEDED, 1 otherwise, 2 when the request cannot run)."""
    from hubbub.workflows import InvalidDefinition, StateMachineRunner
    from hubbub.workflows.errors import InvalidStateTest
    from hubbub.workflows.teststate import test_state_steps

    out, err = out or sys.stdout, err or sys.stderr
    try:
        request = _test_state_request(args)
    except ValueError as exc:
        print(f"hubbub: {exc}", file=err)
        return 2
    async with AsyncExitStack() as stack:
        invoke: Any = None

        async def task(resource: str, payload: Any) -> Any:
            nonlocal invoke
            if invoke is None:  # load the application only for a Task without a mock
                invoke = await _app_invoker(cfg, stack)
            return await invoke(resource, payload)

        async def no_wait(_seconds: float) -> None:
            await asyncio.sleep(0)  # TestState reports a Wait without waiting

        runner = StateMachineRunner(task, sleep=no_wait)
        try:
            response = await runner.drive(test_state_steps(
                request, clock=time.time, rng=random.Random()))
        except (InvalidDefinition, InvalidStateTest) as exc:
            print(f"hubbub: {exc}", file=err)
            return 2
    _print(response, out)
    return 0 if response["status"] == "SUCCEEDED" else 1


test_state_command.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _test_state_request(args: argparse.Namespace) -> StateTestRequest:
    # The TestState request the options describe; ValueError says what is wrong.
    if not args.definition:
        raise ValueError("sfn test-state needs --definition FILE (a state or a state "
                         "machine as JSON)")
    try:
        text = sys.stdin.read() if args.definition == "-" else \
            Path(args.definition).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"cannot read --definition {args.definition}: {reason}") from None
    request: StateTestRequest = {"definition": text, "input": args.input or "{}",
                                 "inspectionLevel": args.inspection_level}
    if args.state is not None:
        request["stateName"] = args.state
    if args.mock_result is not None and args.mock_error is not None:
        raise ValueError("give --mock-result or --mock-error, not both")
    if args.mock_cause is not None and args.mock_error is None:
        raise ValueError("--mock-cause goes with --mock-error")
    if args.mock_result is not None:
        request["mock"] = {"result": args.mock_result}
    elif args.mock_error is not None:
        error = {"error": args.mock_error}
        if args.mock_cause is not None:
            error["cause"] = args.mock_cause
        request["mock"] = {"errorOutput": error}  # type: ignore[typeddict-item]
    if args.variables is not None:
        request["variables"] = args.variables
    if args.context is not None:
        request["context"] = args.context
    if args.retry_count is not None:
        request["stateConfiguration"] = {"retrierRetryCount": args.retry_count}
    return request


async def _app_invoker(cfg: Config, stack: AsyncExitStack) -> Any:
    # Task invocations through the application's functions, as ``start`` runs them.
    from hubbub.app import load_app
    from hubbub.broker.hooks import Identity
    from hubbub.functions.runtime import FunctionRuntime, load_handler
    from hubbub.services import Services
    from hubbub.workflow_wiring import make_invoker

    engine = open_engine(cfg)
    await engine.open()
    stack.push_async_callback(engine.close)
    app = load_app(cfg.app)
    functions = FunctionRuntime()
    for spec in app.functions.values():
        functions.register(spec, load_handler(app.root, app.name, spec.handler))
    services = Services(publish=_no_broker, backend=Identity(principal_id="hubbub:backend",
                                                             client_id=""),
                        backend_authorizer=None, functions=functions,
                        tables={d.name: engine.table(d) for d in app.tables.values()},
                        settings={**app.settings, **cfg.extra})
    return make_invoker(services.call)
