"""Runs scenarios against brokers: one fresh broker per (broker, transport, scenario).

The broker and the generator each run in their own process; with pinning (default on a
machine with 2+ cores) the broker gets CPU 0 and the generator CPU 1, so each
single-threaded side has one core and CPU% shows which one ran out.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import brokers, scenarios

GENERATOR_TIMEOUT = 600.0


@dataclass(frozen=True)
class Plan:
    brokers: list[str]
    transports: list[str]
    scenarios: list[str]
    quick: bool
    loop: str
    pin: bool


def key(broker: str, transport: str, scenario: str) -> str:
    return f"{broker}|{transport}|{scenario}"


def run_plan(plan: Plan, log: Any = sys.stderr) -> dict[str, Any]:
    """Results keyed by ``key(...)``; a broker that cannot start is recorded as not run."""
    for name in plan.scenarios:
        scenarios.load(name)  # fail fast on a typo, before starting anything
    pin = plan.pin and len(os.sched_getaffinity(0)) >= 2
    broker_cpu, gen_cpu = (0, 1) if pin else (None, None)
    results: dict[str, Any] = {}
    for broker in plan.brokers:
        refused: dict[str, Any] | None = None
        # --quick shares one broker per name across runs (hubbub takes seconds to start);
        # the full run starts a fresh broker for every run so no state carries over.
        shared: brokers.Running | None = None
        for transport in plan.transports:
            for name in plan.scenarios:
                k = key(broker, transport, name)
                if refused is not None:  # the broker does not start: skip its other runs
                    results[k] = dict(refused)
                    continue
                print(f"[bench] {k} ...", file=log, flush=True)
                t0 = time.perf_counter()
                if plan.quick and (shared is None or shared.proc.poll() is not None):
                    try:
                        shared = brokers.start(broker, broker_cpu)
                    except brokers.BrokerError as exc:
                        shared = None
                        results[k] = refused = {"not_run": True, "error": f"not run: {exc}"}
                        continue
                results[k] = _one(broker, transport, name, plan, broker_cpu, gen_cpu, shared)
                results[k]["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
                status = results[k].get("error", "ok")
                print(
                    f"[bench] {k}: {status} ({time.perf_counter() - t0:.1f}s)", file=log, flush=True
                )
                if results[k].get("not_run"):
                    refused = results[k]
        if shared is not None:
            brokers.stop(shared)
    return results


def _one(
    broker: str,
    transport: str,
    name: str,
    plan: Plan,
    broker_cpu: int | None,
    gen_cpu: int | None,
    shared: brokers.Running | None = None,
) -> dict[str, Any]:
    if shared is not None:
        running = shared
    else:
        try:
            running = brokers.start(broker, broker_cpu)
        except brokers.BrokerError as exc:
            return {"not_run": True, "error": f"not run: {exc}"}
    try:
        spec = {
            "scenario": name,
            "broker": broker,
            "host": "127.0.0.1",
            "port": running.ws_port if transport == "ws" else running.tcp_port,
            "ws_path": running.ws_path if transport == "ws" else None,
            "broker_pid": running.pid,
            "quick": plan.quick,
            "loop": plan.loop,
            "cpu": gen_cpu,
            # Unique per run: a shared broker must not see one run's ids or topics again.
            "run_id": f"{broker[:1]}{transport[:1]}{plan.scenarios.index(name)}x{os.getpid()}",
        }
        env = dict(os.environ, PYTHONPATH=str(brokers.ROOT))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.generator", json.dumps(spec)],
                capture_output=True,
                text=True,
                timeout=GENERATOR_TIMEOUT,
                env=env,
                cwd=brokers.ROOT,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"generator timed out after {GENERATOR_TIMEOUT:.0f}s"}
        crashed = running.proc.poll() is not None
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            return {"error": f"generator failed ({proc.returncode}): {proc.stderr[-800:]}"}
        result: dict[str, Any] = json.loads(lines[-1])
        if crashed:
            result["error"] = f"broker died during the run: {brokers.tail(running.log)}"
        warnings = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        if warnings:
            result["generator_stderr"] = warnings[-5:]
        stored = stored_items(running.workdir / "data" / "tables.sqlite3", "chat")
        if stored is not None and name.startswith("chat-"):
            # Proof of "stored/s = acknowledged/s" from the broker's own file (with --quick
            # the broker is shared, so the count includes earlier runs' messages).
            result["storage"] = {"chat_items": stored, "fresh_broker": shared is None}
        return result
    finally:
        if shared is None:
            brokers.stop(running)


def stored_items(path: Path, table: str) -> int | None:
    """Items of ``table`` in a hubbub SQLite table file (read-only), None without one."""
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0) as db:
            row = db.execute("SELECT COUNT(*) FROM items WHERE tbl = ?", (table,)).fetchone()
    except sqlite3.Error:
        return None
    return int(row[0])


def merge(path: Path, results: dict[str, Any], command: str) -> dict[str, Any]:
    """Add this run's results to the stored ones (so a later hubbub-only run gets ratios)."""
    store: dict[str, Any] = {"runs": [], "results": {}}
    if path.exists():
        store = json.loads(path.read_text())
    store["results"].update(results)
    store["runs"].append(
        {
            "command": command,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "keys": sorted(results),
        }
    )
    store["runs"] = store["runs"][-20:]
    path.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
    return store
