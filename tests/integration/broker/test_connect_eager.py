"""CONNECT handling with an authenticator that answers at once (run eagerly: CONNACK in the
same read, packets after CONNECT handled right after it) and with one that really waits
(reading paused, later bytes held back, then handled in order)."""

from __future__ import annotations

import asyncio

from broker_client import Client
from broker_env import make_env

from hubbub.broker.hooks import ALLOW_ALL, ConnectDecision, ConnectRequest, Identity
from hubbub.mqtt.codec import encode
from hubbub.mqtt.packets import (
    Connack,
    Connect,
    Publish,
    Suback,
    Subscribe,
    Subscription,
)


def _accept(req: ConnectRequest) -> ConnectDecision:
    return ConnectDecision.accept(Identity(f"p:{req.client_id}", req.client_id), ALLOW_ALL)


class Gate:
    """Waits for ``open`` before deciding; counts how often it was cancelled."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.entered = asyncio.Event()
        self.cancelled = 0

    async def authenticate(self, req: ConnectRequest) -> ConnectDecision:
        self.entered.set()
        try:
            await self.open.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        await asyncio.sleep(0)  # a second suspension: the task drives it on too
        return _accept(req)


async def test_connect_subscribe_publish_in_one_write_are_handled_in_order() -> None:
    env = await make_env()
    try:
        c = await Client.open(env.port, version=5)
        c.send_raw(encode(Connect("MQTT", 5, True, 60, "eager"), 5)
                   + encode(Subscribe(1, (Subscription("t/a", 1),)), 5)
                   + encode(Publish("t/a", b"hi", 0), 5))
        assert isinstance(await c.recv(), Connack)
        assert isinstance(await c.recv(), Suback)
        got = await c.recv()
        assert isinstance(got, Publish) and got.payload == b"hi"
        await c.close()
    finally:
        await env.broker.shutdown(timeout=2)


async def test_waiting_authenticator_holds_later_packets_until_connack() -> None:
    gate = Gate()
    env = await make_env(authenticator=gate)
    try:
        c = await Client.open(env.port, version=5)
        c.send_raw(encode(Connect("MQTT", 5, True, 60, "slow"), 5)
                   + encode(Subscribe(1, (Subscription("t/b", 0),)), 5))
        await gate.entered.wait()
        c.send(Publish("t/b", b"after", 0))
        await c.writer.drain()
        assert not env.broker.is_connected("slow")
        gate.open.set()
        assert isinstance(await c.recv(), Connack)
        assert isinstance(await c.recv(), Suback)
        got = await c.recv()
        assert isinstance(got, Publish) and got.payload == b"after"
        await c.close()
    finally:
        await env.broker.shutdown(timeout=2)


async def test_shutdown_cancels_a_waiting_authenticator() -> None:
    gate = Gate()
    env = await make_env(authenticator=gate)
    c = await Client.open(env.port, version=5)
    c.send(Connect("MQTT", 5, True, 60, "pending"))
    await gate.entered.wait()
    await env.broker.shutdown(timeout=0.5)
    for task in list(env.broker._tasks):  # shutdown waited; cancel what is left
        task.cancel()
    await asyncio.gather(*env.broker._tasks, return_exceptions=True)
    assert gate.cancelled == 1
    assert await c.closed() == []


async def test_authenticator_failing_before_or_after_waiting_refuses_with_0x80() -> None:
    class Fails:
        def __init__(self, wait: bool) -> None:
            self.wait = wait

        async def authenticate(self, req: ConnectRequest) -> ConnectDecision:
            if self.wait:
                await asyncio.sleep(0)
            raise RuntimeError("authenticator bug")

    for wait in (False, True):
        env = await make_env(authenticator=Fails(wait))
        try:
            c = await Client.open(env.port, version=5)
            c.send(Connect("MQTT", 5, True, 60, f"f{wait}"))
            ack = await c.recv()
            assert isinstance(ack, Connack) and ack.reason_code == 0x80
            assert await c.closed() == []
            assert env.broker.counters["connects_refused"] == 1
        finally:
            await env.broker.shutdown(timeout=2)


async def test_client_id_refused_by_the_broker_is_answered_once() -> None:
    env = await make_env()
    try:
        c = await Client.open(env.port, version=5)
        c.send_raw(encode(Connect("MQTT", 5, True, 60, "x" * 200), 5)
                   + encode(Subscribe(1, (Subscription("t/c", 0),)), 5))
        ack = await c.recv()
        assert isinstance(ack, Connack) and ack.reason_code == 0x85
        assert await c.closed() == []  # one CONNACK, nothing after it
        assert env.broker.counters["connects_refused"] == 1
        failed = [m for m, _ in env.recorder.seen if "connect_failed" in m.topic]
        assert len(failed) == 1
    finally:
        await env.broker.shutdown(timeout=2)
