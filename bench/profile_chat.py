"""The chat path's CPU per message, in process and without sockets: a profiling helper.

A real ``Node`` (the chat app, its rules, SQLite tables in a temporary folder) with fake
connections attached to its broker, as ``bench.profile_broker`` does: R rooms, K
subscribers per room on ``chat/pub/{room}`` at QoS 1, one publisher per room sending
batches of QoS 1 chat messages on ``chat/out``. A round is timed from the publishers'
bytes in until every PUBACK has been written (so it includes ``ChatRepublish``, the
republish's fan-out, ``ChatStore`` and the durable put), then the subscribers' PUBACKs
go in. Reports wall and process CPU time (the SQLite writer thread included) per message.

    .venv/bin/python -m bench.profile_chat [--profile] [--table-engine memory]
    .venv/bin/python -m bench.profile_chat --compare /tmp/base/src   # A/B, interleaved

``--compare DIR`` runs this same harness in child processes, alternately against hubbub
imported from ``DIR`` (a baseline checkout's ``src``) and from this checkout, so both
sides see the same machine load; it prints each side's best and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fakes import CountingTransport, connected

ROOT = Path(__file__).resolve().parent.parent


def _attach(broker: Any, cid: str, on_write: Any = None) -> Any:
    from hubbub.broker.protocol import MqttProtocol

    conn = MqttProtocol(broker)
    conn.connection_made(CountingTransport("tcp", on_write))
    connected(conn, cid)
    conn.identity = _identity(cid)
    return conn


def _identity(cid: str) -> Any:
    from hubbub.broker.hooks import Identity

    return Identity(principal_id="anonymous", client_id=cid)


def _message(room: str, i: int) -> bytes:
    text = f"hello number {i} from the profiler, with some words to make it 128 bytes"
    return json.dumps({"room": room, "message": {"user": f"user-{room}", "text": text}},
                      separators=(",", ":")).encode()


async def run(rooms: int, per_room: int, batch: int, rounds: int, engine: str,
              profile: bool, plain: bool = False) -> dict[str, float]:
    from hubbub.broker.router import Grant
    from hubbub.config import Config
    from hubbub.mqtt.codec import encode
    from hubbub.mqtt.packets import Puback, Publish
    from hubbub.server import Node

    with tempfile.TemporaryDirectory(prefix="hubbub-profile-chat-") as tmp:
        cfg = Config(port=0, mqtt_port=0, data=Path(tmp), anonymous_policy="allow-all",
                     publish_rate=0, table_engine=engine, log_level="warning")
        node = Node(cfg)
        await node.start()
        try:
            broker = node.broker
            subs = []
            for r in range(rooms):
                for k in range(per_room):
                    conn = _attach(broker, f"s{r}-{k}")
                    assert conn.session is not None
                    broker.router.subscribe(conn.session, f"chat/pub/r{r}", Grant(1))
                    subs.append(conn)
            done = asyncio.Event()
            want = 0

            def check() -> None:
                if sum(p.transport.written for p in pubs) >= want:
                    done.set()

            pubs = [_attach(broker, f"p{r}", check) for r in range(rooms)]
            wires = [b"".join(encode(Publish(f"chat/pub/r{r}" if plain else "chat/out",
                                             _message(f"r{r}", i), 1,
                                             packet_id=i + 1), 4) for i in range(batch))
                     for r in range(rooms)]
            prof = cProfile.Profile() if profile else None
            wall = cpu = 0.0
            sent = 0
            for _ in range(rounds):
                sent += rooms * batch
                want = sent * 4  # every byte a publisher gets is a 4-byte PUBACK
                done.clear()
                t0, c0 = time.perf_counter(), time.process_time()
                if prof:
                    prof.enable()
                for pub, wire in zip(pubs, wires, strict=True):
                    pub.data_received(wire)
                await done.wait()
                await asyncio.sleep(0)  # corked subscriber output is written
                acks = []
                for conn in subs:
                    assert conn.session is not None
                    acks.append(b"".join(encode(Puback(p), 4) for p in conn.session.inflight))
                for conn, data in zip(subs, acks, strict=True):
                    conn.data_received(data)
                await asyncio.sleep(0)
                if prof:
                    prof.disable()
                wall += time.perf_counter() - t0
                cpu += time.process_time() - c0
            stored = await node.services.table("chat").query("r0", limit=1000)
            if not plain:
                assert len(stored.items) == min(1000, rounds * batch), len(stored.items)
        finally:
            await node.stop()
    if prof:
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime").print_stats(40)
        _by_module(stats)
    n = rounds * rooms * batch
    return {"wall_us": wall / n * 1e6, "cpu_us": cpu / n * 1e6}


def _best_us(fn: Any, n: int = 2000, repeat: int = 5) -> float:
    """Best-of-``repeat`` microseconds per call of ``fn`` (CPU time)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - t0)
    return best / n * 1e6


async def stages() -> dict[str, float]:
    """Each stage of one chat message alone, through the public API (so it runs on any
    version of hubbub): microseconds of CPU per message."""
    from hubbub.app import load_app
    from hubbub.config import Config
    from hubbub.rules import MessageContext, RuleSpec, render_template
    from hubbub.rules.values import loads
    from hubbub.tables import create_table_engine

    app = load_app(Config().app)
    rules = {n: RuleSpec.from_payload(n, raw) for n, raw in app.rules.items()}
    payload = _message("lobby", 1)
    ids = iter(range(10**9))

    def ctx(topic: str, data: bytes, parsed: bool = True) -> MessageContext:
        c = MessageContext(topic=topic, payload=data, client_id="c1", principal="p",
                           timestamp_ms=1_800_000_000_000, newuuid=lambda: f"u{next(ids)}")
        if parsed:
            c.document  # noqa: B018  (parsed outside the timed part)
        return c

    out: dict[str, float] = {}
    out["parse chat/out JSON"] = _best_us(lambda: loads(payload))
    for name in ("ChatRepublish", "ChatToFunction"):
        stmt = rules[name].statement
        out[f"evaluate {name}"] = _best_us(lambda s=stmt: s.evaluate(ctx("chat/out", payload)))
    pair = rules["ChatRepublish"].statement, rules["ChatToFunction"].statement

    def both() -> None:  # as the engine does: one message, both rules (shared conditions)
        c = ctx("chat/out", payload)
        pair[0].evaluate(c)
        pair[1].evaluate(c)
    out["evaluate both, one message"] = _best_us(both)
    result = rules["ChatRepublish"].statement.evaluate(ctx("chat/out", payload))
    assert result is not None
    c0 = ctx("chat/out", payload)
    out["render chat/pub/${room}"] = _best_us(
        lambda: render_template("chat/pub/${room}", c0, result.variables))
    out["serialise the republished JSON"] = _best_us(result.payload)
    stored = result.payload()
    store = rules["ChatStore"].statement
    out["parse + evaluate ChatStore"] = _best_us(
        lambda: store.evaluate(ctx("chat/pub/lobby", stored, parsed=False)))
    item = store.evaluate(ctx("chat/pub/lobby", stored))
    assert item is not None
    with tempfile.TemporaryDirectory(prefix="hubbub-profile-chat-") as tmp:
        engine = create_table_engine("sqlite", Path(tmp) / "t.sqlite3")
        await engine.open()
        table = engine.table(app.tables["chat"])
        best = float("inf")
        for r in range(5):
            batch = [dict(item.output, id=f"{r}-{i}") for i in range(500)]
            t0 = time.process_time()
            await asyncio.gather(*(table.put(x) for x in batch))
            best = min(best, time.process_time() - t0)
        out["table put (SQLite, 500 concurrent)"] = best / 500 * 1e6
        await engine.close()
    return out


def _by_module(stats: pstats.Stats) -> None:
    """Own time (tottime) summed per hubbub package / module: where a message's CPU goes
    (the event loop's thread only: SQLite's writer thread is not profiled)."""
    groups: dict[str, float] = {}
    total = 0.0
    for (path, _, _), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        total += own
        if "/hubbub/" in path:
            rel = path.split("/hubbub/", 1)[1]
            parts = rel.split("/")
            key = "hubbub/" + ("/".join(parts[:2]) if parts[0] == "rules" else parts[0])
        elif "asyncio" in path:
            key = "asyncio"
        elif "/json/" in path:
            key = "json (stdlib, Python part)"
        elif "/bench/" in path:
            key = "the harness (subscribers' PUBACKs built)"
        elif path.startswith("~") or path == "":
            key = "builtins (C functions)"
        else:
            key = "other Python"
        groups[key] = groups.get(key, 0.0) + own
    print("own time by module (% of profiled time):")
    for key, own in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * own / total:5.1f}%  {key}")


def _print_stages(compare: str | None) -> None:
    """``--stages``: this checkout's stages (and the baseline's), as a Markdown table."""
    before = _child(["--stages"], compare) if compare else None
    mine = _child(["--stages"], None)
    head = " | baseline | baseline/this" if before else ""
    print(f"| stage (us CPU per message) | this checkout{head} |")
    for k, v in mine.items():
        cells = f" | {before[k]:.1f} | {before[k] / v:.2f}x" if before else ""
        print(f"| {k} | {v:.1f}{cells} |")


def _child(args: list[str], src: str | None) -> dict[str, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, str(ROOT)]))
    out = subprocess.run([sys.executable, "-m", "bench.profile_chat", "--json", *args],
                         env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rooms", type=int, default=10)
    p.add_argument("--per-room", type=int, default=10, help="subscribers per room")
    p.add_argument("--batch", type=int, default=10, help="messages per publisher per round")
    p.add_argument("--rounds", type=int, default=50)
    p.add_argument("--repeat", type=int, default=3, help="report the best of this many")
    p.add_argument("--table-engine", default="sqlite", choices=["sqlite", "memory"])
    p.add_argument("--profile", action="store_true", help="cProfile one more run")
    p.add_argument("--compare", metavar="SRC", help="A/B against hubbub imported from SRC")
    p.add_argument("--plain", action="store_true",
                   help="publish straight to chat/pub/{room}: no rule, the broker alone")
    p.add_argument("--stages", action="store_true", help="each stage's CPU per message alone")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.stages and not a.json:
        _print_stages(a.compare)
        return
    if a.stages:
        print(json.dumps(asyncio.run(stages())))
        return
    sizes = ["--rooms", str(a.rooms), "--per-room", str(a.per_room), "--batch", str(a.batch),
             "--rounds", str(a.rounds), "--table-engine", a.table_engine, "--repeat", "1",
             *(["--plain"] if a.plain else [])]
    if a.compare:
        base: list[dict[str, float]] = []
        new: list[dict[str, float]] = []
        for _ in range(a.repeat):  # interleaved, so both sides share the machine's moods
            base.append(_child(sizes, a.compare))
            new.append(_child(sizes, None))
        b = min(base, key=lambda r: r["cpu_us"])
        n = min(new, key=lambda r: r["cpu_us"])
        print(f"baseline ({a.compare}): {b['cpu_us']:.1f} us CPU, {b['wall_us']:.1f} us wall "
              "per chat message")
        print(f"this checkout: {n['cpu_us']:.1f} us CPU, {n['wall_us']:.1f} us wall "
              "per chat message")
        print(f"speed-up (baseline/this): CPU {b['cpu_us'] / n['cpu_us']:.2f}x, "
              f"wall {b['wall_us'] / n['wall_us']:.2f}x")
        return

    async def go() -> None:
        best = min([await run(a.rooms, a.per_room, a.batch, a.rounds, a.table_engine, False,
                              a.plain) for _ in range(a.repeat)], key=lambda r: r["cpu_us"])
        if a.json:
            print(json.dumps(best))
        else:
            what = "plain fan-out" if a.plain else f"chat path ({a.table_engine})"
            print(f"{what}: {best['cpu_us']:.1f} us CPU, "
                  f"{best['wall_us']:.1f} us wall per chat message "
                  f"({1e6 / best['wall_us']:,.0f} messages/s)")
        if a.profile:
            await run(a.rooms, a.per_room, a.batch, max(1, a.rounds // 2), a.table_engine,
                      True, a.plain)

    asyncio.run(go())


if __name__ == "__main__":
    main()
