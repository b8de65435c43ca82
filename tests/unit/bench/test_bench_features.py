"""Feature sections of RESULTS.md and the hubbub variants the runner starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench import brokers, features, report


def _pubsub(delivered: int, p50: float) -> dict[str, object]:
    cpu = {"broker_cpu_pct": 95.0, "generator_cpu_pct": 40.0, "cpu_bound": "broker"}
    return {
        "date": "2026-11-27 03:00 UTC",
        "throughput": {
            "delivered_per_s": delivered,
            "acked_per_s": delivered // 10,
            "lost": 0,
            **cpu,
        },
        "latency": {"p50_ms": p50, "p99_ms": 2 * p50, "puback_p50_ms": 3.0, "lost": 0, **cpu},
    }


def test_policy_and_chat_sections_with_ratios(tmp_path: Path) -> None:
    results = {
        "hubbub+allowall|tcp|fanout-100": _pubsub(200_000, 0.5),
        "hubbub+policy|tcp|fanout-100": _pubsub(150_000, 0.6),
        "hubbub|tcp|chat-path": _pubsub(20_000, 1.0),
        "hubbub|tcp|chat-plain": _pubsub(80_000, 0.5),
    }
    (tmp_path / "NOTES-chat.md").write_text("Chat notes.\n")
    text = "\n".join(features.sections(results, tmp_path))
    assert "| delivered msg/s (max) | 200,000 | 150,000 | 0.75x |" in text
    assert "| latency p50 ms (fixed load) | 0.50 | 0.60 | 1.20x |" in text
    assert "### chat" not in text  # no chat policy results: no empty table
    assert "Chat notes." in text
    assert "| delivered msg/s (max) | 20,000 | 80,000 | – | 0.25x | – |" in text
    assert "95% / 40% (broker)" in text
    assert "Issue 6" not in text and "Issue 7" not in text


def test_workflows_table_is_included(tmp_path: Path) -> None:
    (tmp_path / "results-workflows.md").write_text("# Title\n\nCommand: `x`\n\n| a |\n")
    text = "\n".join(features.sections({}, tmp_path))
    assert "## Issue 7" in text and "Command: `x`" in text and "# Title" not in text


def test_feature_scenarios_stay_out_of_the_broker_table() -> None:
    rows = report.table({"hubbub|tcp|chat-path": _pubsub(1, 1.0)})
    assert len(rows) == 2  # header only


def test_fmt_and_ratio() -> None:
    assert features.fmt(None) == "–" and features.fmt(0.0123) == "0.0123"
    assert features.fmt(12_345) == "12,345" and features.fmt("x") == "x"
    assert features.ratio(1, 2, True) == "0.50x" and features.ratio(1, "a", True) == "–"
    assert features.ratio(1, 2, None) == "–" and features.ratio(0, 2, True) == "–"


def test_hubbub_variants(tmp_path: Path) -> None:
    argv = brokers.hubbub_variant("hubbub+policy+memtable+window50", 1, 2, tmp_path)
    policy = argv[argv.index("--anonymous-policy") + 1]
    doc = json.loads(Path(policy).read_text())
    assert doc["Statement"][0]["Action"] == "iot:Connect"
    assert argv[argv.index("--table-engine") + 1] == "memory"
    config = Path(argv[argv.index("--config") + 1]).read_text()
    assert "streamBatchingWindowMs = 50" in config and config.startswith("[app]")
    plain = brokers.hubbub_variant("hubbub+allowall", 1, 2, tmp_path)
    assert plain == brokers.hubbub_command(1, 2, tmp_path / "data")
    with pytest.raises(brokers.BrokerError, match="unknown hubbub variant"):
        brokers.hubbub_variant("hubbub+turbo", 1, 2, tmp_path)


def test_bench_policy_loads_in_hubbub(tmp_path: Path) -> None:
    from hubbub.auth.documents import load_policy_file

    path = tmp_path / "bench-policy.json"
    path.write_text(json.dumps(brokers.bench_policy()))
    assert load_policy_file(path) is not None


def test_stored_items_counts_one_table(tmp_path: Path) -> None:
    import sqlite3

    from bench.runner import stored_items

    path = tmp_path / "tables.sqlite3"
    assert stored_items(path, "chat") is None
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (tbl, pk, sk, data, expires)")
        db.executemany(
            "INSERT INTO items VALUES (?, 'r', ?, '{}', NULL)",
            [("chat", "1"), ("chat", "2"), ("presence", "3")],
        )
    db.close()
    assert stored_items(path, "chat") == 2
    (tmp_path / "bad.sqlite3").write_text("not a database")
    assert stored_items(tmp_path / "bad.sqlite3", "chat") is None


def test_stored_row_reads_storage_and_acks() -> None:
    result = {"storage": {"chat_items": 30}, "latency": {"acked": 10, "acked_since_setup": 30}}
    assert features._stored(result) == "30 / 30"
    assert features._stored({"latency": {"acked": 1}}) is None


def test_latest_runs_keeps_one_per_command() -> None:
    runs = [{"command": c, "date": d} for c, d in [("a", 1), ("b", 2), ("a", 3), ("c", 4)]]
    assert [(r["command"], r["date"]) for r in report.latest_runs(runs)] == [
        ("b", 2),
        ("a", 3),
        ("c", 4),
    ]
