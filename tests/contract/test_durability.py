"""Acknowledged means durable: a child process writes, reports each acknowledged write on
stdout, and is SIGKILLed mid-stream; reopening the file shows every acknowledged write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from hubbub.streams import create_stream_engine
from hubbub.streams.base import StreamSpec, shard_id
from hubbub.tables import TableSpec, create_table_engine

ROOT = Path(__file__).resolve().parents[2]

TABLE_WRITER = """
import asyncio, sys
from hubbub.tables import TableSpec, create_table_engine

async def main():
    engine = create_table_engine("sqlite", sys.argv[1])
    await engine.open()
    t = engine.table(TableSpec("chat", "room", "ts"))
    async def one(i):
        await t.put({"room": "lobby", "ts": i, "text": f"message {i}"})
        print(i, flush=True)  # acknowledged: the put's await returned
    i = 0
    while True:  # concurrent writers so commits are batched, until we are killed
        await asyncio.gather(*(one(i + k) for k in range(50)))
        i += 50

asyncio.run(main())
"""

STREAM_WRITER = """
import asyncio, sys
from hubbub.streams import create_stream_engine
from hubbub.streams.base import StreamSpec

async def main():
    engine = create_stream_engine("sqlite", sys.argv[1])
    await engine.open()
    await engine.create_stream(StreamSpec("chat", shard_count=2))
    async def one(i):
        r = await engine.put_record("chat", f"key{i % 7}", f"record {i}".encode())
        print(i, r.shard_id, r.sequence_number, flush=True)
    i = 0
    while True:
        await asyncio.gather(*(one(i + k) for k in range(50)))
        i += 50

asyncio.run(main())
"""


def run_and_kill(script: str, db: Path, acks_wanted: int) -> list[list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), str(db)],
                            stdout=subprocess.PIPE, env=env, text=True)
    assert proc.stdout is not None
    acked: list[list[str]] = []
    try:
        for line in proc.stdout:
            acked.append(line.split())
            if len(acked) >= acks_wanted:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # Lines already written before the kill are acknowledged writes too.
    acked.extend(line.split() for line in proc.stdout.read().splitlines())
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= acks_wanted, "the writer died before writing enough"
    return acked


async def test_acknowledged_table_puts_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "tables.db"
    acked = run_and_kill(TABLE_WRITER, db, 700)
    engine = create_table_engine("sqlite", db)
    await engine.open()
    try:
        t = engine.table(TableSpec("chat", "room", "ts"))
        for (i,) in acked:
            assert await t.get("lobby", int(i)) == {"room": "lobby", "ts": int(i),
                                                     "text": f"message {i}"}
    finally:
        await engine.close()


async def test_acknowledged_stream_records_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "stream.db"
    acked = run_and_kill(STREAM_WRITER, db, 700)
    engine = create_stream_engine("sqlite", db)
    await engine.open()
    try:
        await engine.create_stream(StreamSpec("chat", shard_count=2))
        stored: dict[tuple[str, str], bytes] = {}
        for s in (shard_id(0), shard_id(1)):
            after = None
            while batch := await engine.read("chat", s, after, 1000):
                stored.update(((s, r.sequence_number), r.data) for r in batch)
                after = batch[-1].sequence_number
        for i, shard, seq in acked:
            assert stored[(shard, seq)] == f"record {i}".encode()
        # and new records continue after the old ones
        r = await engine.put_record("chat", "key0", b"after restart")
        assert int(r.sequence_number) > max(int(s) for (sh, s) in stored if sh == r.shard_id)
    finally:
        await engine.close()
