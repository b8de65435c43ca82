"""mosquitto_pub / mosquitto_sub (Debian mosquitto-clients) against the broker."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from broker_interop_env import Servers

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("mosquitto_sub") is None, reason="mosquitto-clients"),
]

WAIT = 10.0  # failsafe


async def run(*args: str, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE,
                                                stdin=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), WAIT)
    return proc.returncode or 0, out, err


async def start_sub(port: int, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def subscribed(servers: Servers, client_id: str) -> None:
    """Wait for the broker's subscribed lifecycle event (no sleeping)."""
    from hubbub.broker.message import Message

    seen = asyncio.Event()

    class Watch:
        def on_publish(self, msg: Message, origin: object) -> None:
            if msg.topic == f"$aws/events/subscriptions/subscribed/{client_id}":
                seen.set()

    servers.broker.add_observer(Watch())
    session = servers.broker.sessions.get(client_id)
    if session is None or not session.subscriptions:
        await asyncio.wait_for(seen.wait(), WAIT)


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
async def test_pub_sub_qos1(servers: Servers, version: str) -> None:
    sub = await start_sub(servers.tcp_port, "-V", version, "-i", f"ms-{version}", "-t",
                          "mq/+", "-q", "1", "-C", "2", "-v")
    await subscribed(servers, f"ms-{version}")
    for text in ("hello", "world"):
        rc, _, err = await run("mosquitto_pub", "-h", "127.0.0.1", "-p", str(servers.tcp_port),
                               "-V", version, "-t", "mq/x", "-q", "1", "-m", text)
        assert rc == 0, err
    out, err = await asyncio.wait_for(sub.communicate(), WAIT)
    assert sub.returncode == 0, err
    assert out.decode().splitlines() == ["mq/x hello", "mq/x world"]


async def test_retained_and_delete(servers: Servers) -> None:
    port = str(servers.tcp_port)
    rc, _, err = await run("mosquitto_pub", "-p", port, "-h", "127.0.0.1", "-t", "ret/a",
                           "-r", "-q", "1", "-m", "kept")
    assert rc == 0, err
    rc, out, err = await run("mosquitto_sub", "-p", port, "-h", "127.0.0.1", "-t", "ret/#",
                             "-C", "1", "-v", "-V", "mqttv5")
    assert out.decode().strip() == "ret/a kept"
    rc, _, err = await run("mosquitto_pub", "-p", port, "-h", "127.0.0.1", "-t", "ret/a",
                           "-r", "-n")
    assert rc == 0 and len(servers.broker.retained) == 0


async def test_refusals_are_reported(servers: Servers) -> None:
    port = str(servers.tcp_port)
    rc, _, err = await run("mosquitto_pub", "-p", port, "-h", "127.0.0.1", "-i", "bad+id",
                           "-t", "x", "-m", "y", "-V", "mqttv5")
    assert rc != 0 and b"identifier" in err.lower()
    # Oversize payload: IoT Core's 128 KB limit (mosquitto_pub announces no limit itself).
    rc, _, err = await run("mosquitto_pub", "-p", port, "-h", "127.0.0.1", "-t", "x",
                           "-V", "mqttv5", "-q", "1", "-s", stdin=b"x" * (129 * 1024))
    assert rc != 0
    assert servers.broker.stats()["messages_in"] == 0
