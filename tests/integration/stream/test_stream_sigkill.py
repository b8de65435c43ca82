"""Acknowledged stream records survive SIGKILL: a real ``hubbub serve`` accepts reactions
on ``chat/stream`` (QoS 1: the PUBACK waits for the rule's kinesis action, so a PUBACK
means the record is in the stream), is killed with -9 before its consumer's window
closes, and after a restart the consumer processes every record, once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..chat.chatclient import ChatClient, aget_json

ROOT = Path(__file__).resolve().parents[3]
EMOJI = ("👍", "❤️", "😂", "🎉")


def serve(tmp: Path, window_ms: int) -> tuple[subprocess.Popen[str], str]:
    config = tmp / f"hubbub-{window_ms}.toml"
    config.write_text(f'host = "127.0.0.1"\nport = 0\nmqtt_port = 0\ndata = "{tmp / "data"}"\n'
                      f"[app]\npresenceDebounceSeconds = 0\n"
                      f"streamBatchingWindowMs = {window_ms}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from hubbub.cli import main; sys.exit(main())",
         "serve", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("hubbub is running: open "):
            url = line.split("open ", 1)[1].strip().rsplit("/", 1)[0]
            return proc, url
    proc.kill()
    raise AssertionError("hubbub serve did not start")


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


async def test_accepted_stream_records_survive_sigkill(tmp_path: Path) -> None:
    # First life: a window of 300 s (Lambda's maximum), so nothing is processed yet.
    proc, url = await asyncio.to_thread(serve, tmp_path, 300_000)
    try:
        alice = await ChatClient.create(url)
        await alice.connect()
        await alice.join("vault", "alice")
        ids = []
        for i in range(10):
            alice.say("vault", "alice", f"m{i}")
            msg = await alice.expect(lambda t, p, i=i: isinstance(p, dict)
                                     and p.get("type") == "message" and p["text"] == f"m{i}")
            ids.append(msg["id"])
        infos = [alice.publish("chat/stream", {"type": "reaction", "room": "vault",
                                               "user": "alice", "messageId": mid, "emoji": e})
                 for mid in ids for e in EMOJI]
        for info in infos:
            await asyncio.to_thread(info.wait_for_publish, 10)
            assert info.is_published()
        alice.mqtt.loop_stop()
    finally:
        kill(proc)

    # Second life: a short window; the consumer starts from its checkpoint (none).
    proc, url = await asyncio.to_thread(serve, tmp_path, 50)
    try:
        bob = await ChatClient.create(url)
        await bob.connect()
        welcome = await bob.join("vault", "bob")
        seen: dict[str, Any] = {m["id"]: m.get("reactions") for m in
                                welcome["history"]["messages"] if m.get("reactions")}
        want = dict.fromkeys(EMOJI, 1)
        while any(seen.get(mid) != want for mid in ids):
            update = await bob.expect(lambda t, p: isinstance(p, dict)
                                      and p.get("type") == "reactions")
            seen.update(update["counts"])
        status, page = await aget_json(f"{url}/api/rooms/vault/messages")
        assert status == 200
        # (ids order by server time in ms; two messages of one ms may swap)
        assert {m["text"]: m.get("reactions") for m in page["messages"]} == {
            f"m{i}": want for i in range(10)}
        bob.close()
    finally:
        kill(proc)
