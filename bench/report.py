"""Renders stored results as bench/RESULTS.md: header, side-by-side table, CPU table."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import features, scenarios, stats

HERE = Path(__file__).resolve().parent

BROKERS = ["hubbub", "mosquitto", "amqtt"]
TRANSPORTS = ["tcp", "ws"]


# (row label, path into the result, higher is better?)
Metric = tuple[str, Callable[[dict[str, Any]], Any], bool | None]  # None: no ratio


def _get(*path: str) -> Callable[[dict[str, Any]], Any]:
    def read(result: dict[str, Any]) -> Any:
        value: Any = result
        for p in path:
            if not isinstance(value, dict) or p not in value:
                return None
            value = value[p]
        return value

    return read


def _load_share(result: dict[str, Any]) -> Any:
    offered = result.get("latency", {}).get("offered_deliveries_per_s")
    peak = result.get("throughput", {}).get("delivered_per_s")
    if not offered or not peak:
        return None
    return f"{100 * offered / peak:.0f}%"


def _lost(result: dict[str, Any]) -> Any:
    parts = [result.get(ph, {}).get("lost") for ph in ("throughput", "latency")]
    return None if parts == [None, None] else sum(p or 0 for p in parts)


PUBSUB: list[Metric] = [
    ("delivered msg/s (max)", _get("throughput", "delivered_per_s"), True),
    ("latency run: offered load / max", _load_share, None),
    ("latency p50 ms", _get("latency", "p50_ms"), False),
    ("latency p99 ms", _get("latency", "p99_ms"), False),
    ("latency p99.9 ms", _get("latency", "p999_ms"), False),
    ("latency run: generator stall max ms", _get("latency", "generator_stall_max_ms"), None),
    ("lost messages", _lost, False),
    ("broker RSS KiB/conn", _get("setup", "rss_per_conn_kib"), False),
]
STORM: list[Metric] = [
    ("connections/s", _get("storm", "connections_per_s"), True),
    ("connect p99 ms", _get("storm", "connect_p99_ms"), False),
    ("failures", _get("storm", "failures"), False),
]
IDLE: list[Metric] = [
    ("broker RSS KiB/conn", _get("idle", "rss_per_conn_kib"), False),
    ("connected", _get("idle", "connected"), True),
    ("failures", _get("idle", "failures"), False),
]


def metrics_for(scenario: str) -> list[Metric]:
    if scenario == "connect-storm":
        return STORM
    if scenario.startswith("idle"):
        return IDLE
    return PUBSUB


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _cell(results: dict[str, Any], k: str, read: Callable[[dict[str, Any]], Any]) -> Any:
    r = results.get(k)
    if r is None:
        return None
    if r.get("not_run"):
        return "not run"
    value = read(r)
    if value is None and r.get("error"):
        return "error"
    return value


def _compared() -> list[str]:
    """Scenarios of the broker table (the feature scenarios have sections of their own)."""
    return [n for n in scenarios.REGISTRY if n not in scenarios.FEATURES]


def table(results: dict[str, Any]) -> list[str]:
    head = (
        "| scenario | transport | metric | hubbub | mosquitto | amqtt | hubbub vs mosquitto"
        " | hubbub vs amqtt | mosquitto vs amqtt |"
    )
    out = [head, "|" + "---|" * 9]
    for name in _compared():
        for transport in TRANSPORTS:
            ks = {b: f"{b}|{transport}|{name}" for b in BROKERS}
            if not any(k in results for k in ks.values()):
                continue
            for label, read, higher in metrics_for(name):
                v = {b: _cell(results, k, read) for b, k in ks.items()}
                if all(x is None for x in v.values()):
                    continue
                out.append(
                    f"| {name} | {transport} | {label} | {_fmt(v['hubbub'])} | "
                    f"{_fmt(v['mosquitto'])} | {_fmt(v['amqtt'])} | "
                    f"{stats.ratio_text(v['hubbub'], v['mosquitto'], higher)} | "
                    f"{stats.ratio_text(v['hubbub'], v['amqtt'], higher)} | "
                    f"{stats.ratio_text(v['mosquitto'], v['amqtt'], higher)} |"
                )
    return out


def cpu_table(results: dict[str, Any]) -> list[str]:
    out = ["| scenario | transport | phase | " + " | ".join(BROKERS) + " |", "|" + "---|" * 6]
    for name in _compared():
        for transport in TRANSPORTS:
            for phase in ("throughput", "latency", "storm", "idle"):
                cells = []
                for b in BROKERS:
                    r = results.get(f"{b}|{transport}|{name}", {}).get(phase)
                    if not isinstance(r, dict) or "broker_cpu_pct" not in r:
                        cells.append("–")
                        continue
                    others = r.get("others_cpu_pct")
                    noise = "" if others is None else f" +{others:.0f}%"
                    cells.append(
                        f"{r['broker_cpu_pct']:.0f}% / {r['generator_cpu_pct']:.0f}%{noise}"
                        f" ({r['cpu_bound']})"
                    )
                if any(c != "–" for c in cells):
                    out.append(f"| {name} | {transport} | {phase} | " + " | ".join(cells) + " |")
    return out


def errors(results: dict[str, Any]) -> list[str]:
    out = []
    for k, r in sorted(results.items()):
        if r.get("error"):
            text = " ".join(str(r["error"]).split())
            out.append(f"- `{k}`: {text[-300:]}")
    return out


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} vCPU ({cpu}), {mem:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def versions() -> str:
    parts = []
    try:
        out = subprocess.run(["/usr/sbin/mosquitto", "-h"], capture_output=True, text=True)
        parts.append(out.stdout.splitlines()[0])
    except (OSError, IndexError):
        parts.append("mosquitto: not found")
    for mod in ("amqtt", "uvloop", "psutil"):
        try:
            from importlib.metadata import version

            parts.append(f"{mod} {version(mod)}")
        except Exception:
            parts.append(f"{mod}: not installed")
    return ", ".join(parts)


HEADER = """# hubbub benchmark results

Rerun: `.venv/bin/python -m bench run` (full, ~15 min) or `--quick` (~2 min); see
`bench/README.md`. Raw numbers: `bench/results.json`.

- **Machine**: {machine}.
  A shared, noisy cloud VM: expect 10-20% between runs; compare brokers within one run.
- **Software**: {versions}.
- **Setup**: each broker runs alone in its process, pinned to CPU 0; the load generator (one
  asyncio process on uvloop, with its own MQTT 3.1.1 and RFC 6455 client) is pinned to CPU 1;
  both run at real-time priority (SCHED_RR 10; nice -10 if refused), so the other work on
  this shared machine does not sit between them (each run's `priority` is in results.json).
  The three brokers are single-threaded, so ~100% CPU on a side means that side was the
  limit. Loopback only; in the full run every (broker, transport, scenario) gets a freshly
  started broker (--quick shares one per broker).
- **Configs**: Mosquitto with `set_tcp_nodelay true`, logging errors/warnings; amqtt with only
  its anonymous-auth plugin; hubbub as `hubbub serve --anonymous-policy allow-all
  --publish-rate 0 --log-level warning` (IoT Core's 100 publishes/s per connection limit
  off: the others have no such limit). No TLS anywhere.
- **Throughput**: subscribers' deliveries/s over a fixed window (5 s, after 1 s of warmup;
  --quick: 1 s after 0.3 s); publishers send as fast as TCP flow control and an end-to-end
  window (~10,000 deliveries not yet received, in all) allow, so no queue grows without bound.
- **Latency**: a separate run at a fixed offered load, the same for every broker (fan-out:
  2,000 deliveries/s, 5,000 for fanout-1000 at QoS 0; chat: 0.5 msg/s per client); each
  payload carries perf_counter_ns at send, read in the same process on receipt.
- **Lost** = expected deliveries - deliveries received after a drain (both runs).
  **RSS/conn** = broker RSS delta / connections, after subscribing (before any publish).

Runs recorded here:
{runs}

## Side by side

Ratios are oriented so that **>1x means the first-named broker is better** (more msg/s,
lower latency, less memory).

"""


def latest_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last run of each distinct command, oldest first (a repeated command, such as a
    feature section's, must not push the broker table's command out of the list)."""
    last: dict[str, dict[str, Any]] = {}
    for r in runs:
        last.pop(r["command"], None)
        last[r["command"]] = r
    return list(last.values())


def render(store: dict[str, Any], notes_dir: Path = HERE) -> str:
    results = store["results"]
    runs = "\n".join(
        f"- `{r['command']}` at {r['date']} ({len(r['keys'])} runs)"
        for r in latest_runs(store["runs"])
    )
    return HEADER.format(machine=machine(), versions=versions(), runs=runs) + "\n".join(
        [
            *table(results),
            "",
            "## CPU during each measured phase: broker% / generator% +others% (bound side)",
            "",
            "100% = one core. `broker`: the broker saturated its core, its number is its "
            "capacity. `generator`: our client saturated, the broker may have more to give. "
            "`+others%`: CPU taken by other processes on this shared machine during the "
            "phase (above ~20% the run was disturbed).",
            "",
            *cpu_table(results),
            "",
            *features.sections(results, notes_dir),
            "## Errors and runs that did not happen",
            "",
            *(errors(results) or ["- none"]),
            "",
        ]
    )
