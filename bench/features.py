"""RESULTS.md sections for hubbub's own features, compared with each other in one run:
policy checks on/off (issue 3), the chat path beside plain fan-out and durable vs memory
tables (issue 4), the stream (issue 6), state machines (issue 7, from its own script).

Pure rendering: results in, Markdown lines out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import stats

Read = Callable[[dict[str, Any]], Any]
#: (label, read, higher is better? None = no ratio)
Row = tuple[str, Read, bool | None]


def get(*path: str) -> Read:
    def read(result: dict[str, Any]) -> Any:
        value: Any = result
        for p in path:
            if not isinstance(value, dict) or p not in value:
                return None
            value = value[p]
        return value

    return read


def _cpu(phase: str) -> Read:
    def read(result: dict[str, Any]) -> Any:
        r = result.get(phase)
        if not isinstance(r, dict) or "broker_cpu_pct" not in r:
            return None
        return f"{r['broker_cpu_pct']:.0f}% / {r['generator_cpu_pct']:.0f}% ({r['cpu_bound']})"

    return read


def _lost(result: dict[str, Any]) -> Any:
    parts = [get(ph, "lost")(result) for ph in ("throughput", "latency")]
    return None if parts == [None, None] else sum(p or 0 for p in parts)


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value < 0.1:
            return f"{value:,.4f}"
        return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(a: Any, b: Any, higher: bool | None) -> str:
    """a/b as a factor of a's value over b's (not oriented: 0.80x = a is 20% lower)."""
    return stats.ratio_text(a, b, None if higher is None else True)


def compare(
    results: dict[str, Any],
    columns: list[tuple[str, str]],
    rows: list[Row],
    pairs: list[tuple[int, int]],
) -> list[str]:
    """A table with one column per (title, result key) and one ratio column per pair of
    column indexes (first / second); empty when no key has results."""
    got = [results.get(k) for _, k in columns]
    if all(r is None for r in got):
        return []
    head = [
        "metric",
        *(t for t, _ in columns),
        *(f"{columns[a][0]} / {columns[b][0]}" for a, b in pairs),
    ]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, read, higher in rows:
        values = [None if r is None else read(r) for r in got]
        if all(v is None for v in values):
            continue
        ratios = [ratio(values[a], values[b], higher) for a, b in pairs]
        out.append("| " + " | ".join([label, *map(fmt, values), *ratios]) + " |")
    dates = sorted({str(r.get("date")) for r in got if r is not None})
    out += [
        "",
        f"Measured {', '.join(dates)}; keys: " + ", ".join(f"`{k}`" for _, k in columns) + ".",
    ]
    return out


POLICY_ROWS: list[Row] = [
    ("delivered msg/s (max)", get("throughput", "delivered_per_s"), True),
    ("latency p50 ms (fixed load)", get("latency", "p50_ms"), False),
    ("latency p99 ms (fixed load)", get("latency", "p99_ms"), False),
    ("lost messages", _lost, None),
    ("CPU broker / generator, max run", _cpu("throughput"), None),
    ("CPU broker / generator, latency run", _cpu("latency"), None),
]

CHAT_ROWS: list[Row] = [
    ("delivered msg/s (max)", get("throughput", "delivered_per_s"), True),
    ("published = acknowledged msg/s (max)", get("throughput", "acked_per_s"), True),
    ("latency run: published msg/s", get("latency", "published_per_s"), None),
    ("latency run: deliveries/s", get("latency", "offered_deliveries_per_s"), None),
    ("publish -> deliver p50 ms", get("latency", "p50_ms"), False),
    ("publish -> deliver p99 ms", get("latency", "p99_ms"), False),
    ("publish -> PUBACK p50 ms", get("latency", "puback_p50_ms"), False),
    ("publish -> PUBACK p99 ms", get("latency", "puback_p99_ms"), False),
    ("lost messages", _lost, None),
    ("items in the chat table after the run / PUBACKs received", lambda r: _stored(r), None),
    ("CPU broker / generator, max run", _cpu("throughput"), None),
    ("CPU broker / generator, latency run", _cpu("latency"), None),
]

STREAM_ROWS: list[Row] = [
    ("batching window ms", get("params", "window_ms"), None),
    ("max run: records/s accepted (PUBACKed)", get("throughput", "accepted_per_s"), True),
    (
        "max run: records/s through the consumer, during ingest",
        get("throughput", "consumed_per_s"),
        True,
    ),
    (
        "max run: consumer lag p50 ms (oldest record of a batch)",
        get("throughput", "consumer_lag_p50_ms"),
        False,
    ),
    ("max run: consumer lag max ms", get("throughput", "consumer_lag_max_ms"), False),
    (
        "max run: records/s through the consumer, catching up after ingest stopped",
        get("throughput", "catchup_consumed_per_s"),
        True,
    ),
    (
        "max run: records consumed by the end / accepted",
        lambda r: _of(
            get("throughput", "consumed_by_end_of_drain")(r), get("throughput", "acked")(r)
        ),
        None,
    ),
    ("max run: function calls per record", get("throughput", "calls_per_record"), False),
    ("latency run: offered records/s", get("latency", "offered_records_per_s"), None),
    ("latency run: publish -> room's typing update p50 ms", get("latency", "p50_ms"), False),
    ("latency run: p99 ms", get("latency", "p99_ms"), False),
    ("latency run: max ms", get("latency", "max_ms"), False),
    (
        "latency run: typing records named in an update / sent",
        lambda r: _of(
            get("latency", "records_seen_in_updates")(r),
            get("latency", "typing_sent")(r) or get("latency", "records_sent")(r),
        ),
        None,
    ),
    ("latency run: reactions updates received", get("latency", "reaction_updates"), None),
    ("latency run: function calls per record", get("latency", "calls_per_record"), False),
    ("CPU broker / generator, max run", _cpu("throughput"), None),
    ("CPU broker / generator, latency run", _cpu("latency"), None),
]


def _stored(result: dict[str, Any]) -> Any:
    # The latency phase runs last; its count includes the throughput run and any
    # repeated latency attempt (each stores its messages too).
    stored = get("storage", "chat_items")(result)
    acked = get("latency", "acked_since_setup")(result)
    return None if stored is None or acked is None else _of(stored, acked)


def _of(a: Any, b: Any) -> Any:
    return None if a is None or b is None else f"{a:,} / {b:,}"


def sections(results: dict[str, Any], notes_dir: Path) -> list[str]:
    """The feature sections, each followed by its hand-written notes file if present
    (``NOTES-policy.md``, ``NOTES-chat.md``, ``NOTES-stream.md``) and the workflows table."""
    out: list[str] = []

    def titled(title: str, table: list[str]) -> list[str]:
        return [title, "", *table] if table else []

    def add(title: str, tables: list[list[str]], notes: str) -> None:
        tables = [t for t in tables if t]
        path = notes_dir / notes
        if not tables and not path.exists():
            return
        out.extend([f"## {title}", ""])
        if path.exists():
            out.extend([path.read_text().rstrip(), ""])
        for t in tables:
            out.extend([*t, ""])

    add(
        "Issue 3: the cost of policy checks (hubbub, policies off vs on)",
        [
            titled(
                f"### {s}",
                compare(
                    results,
                    [
                        ("off (allow-all)", f"hubbub+allowall|tcp|{s}"),
                        ("on (policy file)", f"hubbub+policy|tcp|{s}"),
                    ],
                    POLICY_ROWS,
                    [(1, 0)],
                ),
            )
            for s in ("fanout-100", "chat")
        ],
        "NOTES-policy.md",
    )
    add(
        "Issue 4: the full chat path beside plain fan-out, with storage",
        [
            compare(
                results,
                [
                    ("chat path (SQLite tables)", "hubbub|tcp|chat-path"),
                    ("plain fan-out", "hubbub|tcp|chat-plain"),
                    ("chat path (memory tables)", "hubbub+memtable|tcp|chat-path"),
                ],
                CHAT_ROWS,
                [(0, 1), (0, 2)],
            ),
        ],
        "NOTES-chat.md",
    )
    add(
        "Issue 6: the stream (typing records on chat/stream)",
        [
            compare(
                results,
                [
                    ("typing, app window (500 ms)", "hubbub|tcp|stream"),
                    ("typing, window 100 ms", "hubbub+window100|tcp|stream"),
                    ("typing + 1/4 reactions, 500 ms", "hubbub|tcp|stream-mixed"),
                    ("typing + 1/4 reactions, 100 ms", "hubbub+window100|tcp|stream-mixed"),
                    ("typing, 500 ms, latency at 3,000/s", "hubbub|tcp|stream-3k"),
                    ("typing, 100 ms, latency at 3,000/s", "hubbub+window100|tcp|stream-3k"),
                ],
                STREAM_ROWS,
                [],
            ),
        ],
        "NOTES-stream.md",
    )
    workflows = notes_dir / "results-workflows.md"
    if workflows.exists():
        text = workflows.read_text().strip().splitlines()
        body = [ln for ln in text if not ln.startswith("# ")]  # its own title
        out.extend(["## Issue 7: state machines (`bench/workflows_bench.py`)", "", *body, ""])
    return out
