"""Pure arithmetic for results: percentiles, CPU share, ratios. No clock, no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]) of already sorted values; None when empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile out of range: {q}")
    if not sorted_values:
        return None
    # The epsilon keeps 99.9% of 1000 at rank 999 despite binary floating point.
    rank = max(1, math.ceil(q * len(sorted_values) / 100 - 1e-9))
    return sorted_values[rank - 1]


def latency_summary(samples_ns: list[int]) -> dict[str, float | int | None]:
    """p50/p99/p99.9/max in milliseconds, plus the sample count."""
    ordered = sorted(samples_ns)

    def ms(q: float) -> float | None:
        v = percentile(ordered, q)
        return None if v is None else round(v / 1e6, 3)

    return {
        "samples": len(ordered),
        "p50_ms": ms(50),
        "p99_ms": ms(99),
        "p999_ms": ms(99.9),
        "max_ms": ms(100),
    }


def cpu_percent(cpu_seconds: float, wall_seconds: float) -> float:
    """CPU time over wall time, in percent of one core (200 = two cores busy)."""
    if wall_seconds <= 0:
        return 0.0
    return round(100.0 * cpu_seconds / wall_seconds, 1)


def ratio(ours: float | None, theirs: float | None, higher_is_better: bool = True) -> float | None:
    """How many times better hubbub is (>1 = hubbub better), whatever the metric's direction."""
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return None
    return ours / theirs if higher_is_better else theirs / ours


def ratio_text(a: object, b: object, higher_is_better: bool | None) -> str:
    """``ratio`` for a table cell: "1.23x", or "–" where there is no ratio (a value is
    missing or not a number, or the metric has no direction)."""
    if higher_is_better is None or not isinstance(a, int | float) or \
            not isinstance(b, int | float):
        return "–"
    r = ratio(float(a), float(b), higher_is_better)
    return "–" if r is None else f"{r:.2f}x"


def bound_side(broker_cpu: float, generator_cpu: float, threshold: float = 85.0) -> str:
    """Which side ran out of CPU: each process is single-threaded, so ~100% means saturated."""
    sides = []
    if broker_cpu >= threshold:
        sides.append("broker")
    if generator_cpu >= threshold:
        sides.append("generator")
    return "+".join(sides) if sides else "neither"
