"""The load generator process: ``python -m bench.generator SPEC_JSON`` runs one scenario
against one broker and prints one JSON result line on stdout.

It runs apart from the orchestrator and the broker so that its CPU is measured on its
own and, with --pin, it gets a core of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from typing import Any

from bench import brokers, scenarios
from bench.client import Target
from bench.context import Context, Durations
from bench.probe import Probe


def raise_nofile() -> int:
    """Lift the soft open-files limit to the hard one (10,000 connections need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def durations(quick: bool) -> Durations:
    return (
        Durations(warmup=0.3, measure=1.0, drain_max=30.0)
        if quick
        else Durations(warmup=1.0, measure=5.0, drain_max=30.0)
    )


async def _main(spec: dict[str, Any]) -> dict[str, Any]:
    scenario = scenarios.load(spec["scenario"])
    ctx = Context(
        target=Target(spec["host"], spec["port"], spec.get("ws_path")),
        probe=Probe(spec["broker_pid"]),
        quick=bool(spec.get("quick")),
        durations=durations(bool(spec.get("quick"))),
        run_id=spec.get("run_id", f"r{os.getpid()}"),
        broker=str(spec.get("broker", "")),
    )
    t0 = time.perf_counter()
    result = await scenario.run(ctx)
    result["elapsed_s"] = round(time.perf_counter() - t0, 1)
    return result


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    raise_nofile()
    if spec.get("cpu") is not None:
        os.sched_setaffinity(0, {int(spec["cpu"])})
    boosted = brokers.boost()
    loop_name = spec.get("loop", "uvloop")
    if loop_name == "uvloop":
        import uvloop

        result = uvloop.run(_main(spec))
    else:
        result = asyncio.run(_main(spec))
    result["loop"] = loop_name
    result["priority"] = boosted
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
