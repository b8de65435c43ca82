"""Pure parts of results: percentiles, ratios, CPU attribution, the scenario registry."""

from __future__ import annotations

import pytest
from bench import report, scenarios, stats
from bench.brokers import amqtt_config, mosquitto_config


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 1001))
    assert stats.percentile(values, 50) == 500
    assert stats.percentile(values, 99) == 990
    assert stats.percentile(values, 99.9) == 999
    assert stats.percentile(values, 100) == 1000
    assert stats.percentile(values, 0) == 1
    assert stats.percentile([], 50) is None
    with pytest.raises(ValueError):
        stats.percentile(values, 101)


def test_latency_summary_in_ms() -> None:
    s = stats.latency_summary([3_000_000, 1_000_000, 2_000_000])
    assert s == {"samples": 3, "p50_ms": 2.0, "p99_ms": 3.0, "p999_ms": 3.0, "max_ms": 3.0}
    assert stats.latency_summary([])["p50_ms"] is None


def test_ratio_orientation() -> None:
    assert stats.ratio(200.0, 100.0) == 2.0  # throughput: more is better
    assert stats.ratio(1.0, 4.0, higher_is_better=False) == 4.0  # latency: less is better
    assert stats.ratio(None, 1.0) is None and stats.ratio(0.0, 1.0) is None


def test_cpu_and_bound_side() -> None:
    assert stats.cpu_percent(1.5, 2.0) == 75.0
    assert stats.cpu_percent(1.0, 0.0) == 0.0
    assert stats.bound_side(99, 40) == "broker"
    assert stats.bound_side(50, 97) == "generator"
    assert stats.bound_side(99, 97) == "broker+generator"
    assert stats.bound_side(10, 10) == "neither"


def test_registry_loads_every_scenario_and_rejects_unknown() -> None:
    for name in scenarios.REGISTRY:
        assert scenarios.load(name).name == name
    assert set(scenarios.QUICK_DEFAULT) <= set(scenarios.REGISTRY)
    with pytest.raises(KeyError, match="known"):
        scenarios.load("no-such-scenario")


def test_broker_configs_have_both_listeners() -> None:
    conf = mosquitto_config(1883, 9001)
    assert "listener 1883 127.0.0.1\nprotocol mqtt" in conf
    assert "listener 9001 127.0.0.1\nprotocol websockets" in conf
    yaml = amqtt_config(1883, 9001)
    assert "type: tcp\n    bind: 127.0.0.1:1883" in yaml and "type: ws" in yaml


def test_report_table_ratios_and_not_run() -> None:
    results = {
        "hubbub|tcp|fanout-100": {"not_run": True, "error": "not run: missing"},
        "mosquitto|tcp|fanout-100": {
            "throughput": {"delivered_per_s": 300_000},
            "latency": {"p50_ms": 0.5},
        },
        "amqtt|tcp|fanout-100": {
            "throughput": {"delivered_per_s": 50_000},
            "latency": {"p50_ms": 2.0},
        },
    }
    rows = report.table(results)
    thr = next(r for r in rows if "delivered msg/s" in r)
    assert "not run" in thr and "300,000" in thr and thr.rstrip().endswith("6.00x |")
    p50 = next(r for r in rows if "p50" in r)
    assert p50.rstrip().endswith("4.00x |")  # lower latency is better: 2.0 / 0.5
    assert any("missing" in e for e in report.errors(results))
