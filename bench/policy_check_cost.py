"""The cost of one policy check, alone: ``.venv/bin/python bench/policy_check_cost.py``.

Complements the policy on/off runs (issue 3), whose difference is within this shared
machine's noise: builds the benchmark's anonymous policy (``brokers.bench_policy``) into
one connection's ``Authorizer`` and times ``can_receive`` (the per-delivery check, an LRU
cache hit after the first message on a topic) and the uncached evaluation behind it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.brokers import bench_policy  # noqa: E402
from hubbub.auth.documents import load_policy_file  # noqa: E402
from hubbub.auth.policy import PolicyEngine  # noqa: E402


def per_call_ns(n: int, call: object, args: list[str]) -> float:
    f = call  # a local name: the loop below measures the call, not the attribute lookup
    t = time.perf_counter()
    for a in args:
        f(a)  # type: ignore[operator]
    spent = time.perf_counter() - t
    t = time.perf_counter()
    for _a in args:
        pass
    return (spent - (time.perf_counter() - t)) / n * 1e9


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-policy.json"
        path.write_text(json.dumps(bench_policy()))
        doc = load_policy_file(path)
    engine = PolicyEngine({doc.name: doc})
    auth = engine.authorizer(client_id="c1", identity_id=None, policy_names=(doc.name,))
    n = 200_000
    hit = per_call_ns(n, auth.can_receive, ["bench/run/g0"] * n)
    miss = per_call_ns(20_000, auth._receive, [f"chat/pub/room{i}" for i in range(20_000)])
    pub = per_call_ns(n, auth.can_publish, ["chat/out"] * n)
    print(f"can_receive, cached: {hit:.0f} ns per check")
    print(f"can_publish, cached: {pub:.0f} ns per check")
    print(f"receive evaluation, uncached: {miss / 1000:.2f} us per check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
