"""Output held per loop iteration (Broker.cork): one write per connection, in order, and
never left behind when the connection closes."""

from __future__ import annotations

import asyncio

from test_fanout_sharing import attach

from hubbub.broker import AllowAll, Broker, BrokerSettings
from hubbub.broker.message import Message
from hubbub.broker.router import Grant
from hubbub.mqtt.decoder import Decoder
from hubbub.mqtt.packets import Pingresp, Publish


def _packets(data: bytes) -> list[object]:
    d = Decoder(version=4)
    d.feed(data)
    out = []
    while (p := d.next_packet()) is not None:
        out.append(p)
    return out


async def _next_iteration() -> None:
    await asyncio.sleep(0)


async def test_deliveries_of_one_iteration_leave_in_one_write_in_order() -> None:
    broker = Broker(BrokerSettings(sweep_interval=0), authenticator=AllowAll())
    sub = attach(broker, "s", 4, "tcp", Grant(0))
    broker.cork()
    for i in range(3):
        broker.fan_out(Message("room/a", b"%d" % i), None)
    assert sub.writes == []  # held while corked
    await _next_iteration()
    assert len(sub.writes) == 1
    assert [p.payload for p in _packets(sub.writes[0])] == [b"0", b"1", b"2"]  # type: ignore[attr-defined]
    broker.fan_out(Message("room/a", b"3"), None)  # a fan-out corks by itself
    assert len(sub.writes) == 1
    await _next_iteration()
    assert len(sub.writes) == 2


def test_without_an_event_loop_writes_go_out_at_once() -> None:
    broker = Broker(BrokerSettings(sweep_interval=0), authenticator=AllowAll())
    sub = attach(broker, "s", 4, "tcp", Grant(0))
    broker.fan_out(Message("room/a", b"now"), None)
    assert [p.payload for p in _packets(b"".join(sub.writes))] == [b"now"]  # type: ignore[attr-defined]


async def test_a_long_backlog_is_written_without_waiting() -> None:
    broker = Broker(BrokerSettings(sweep_interval=0), authenticator=AllowAll())
    sub = attach(broker, "s", 4, "tcp", Grant(0))
    broker.cork()
    for i in range(64):
        broker.fan_out(Message("room/a", b"%d" % i), None)
    assert len(sub.writes) == 1 and len(_packets(sub.writes[0])) == 64
    await _next_iteration()


async def test_packets_sent_directly_keep_their_place_and_close_flushes() -> None:
    broker = Broker(BrokerSettings(sweep_interval=0), authenticator=AllowAll())
    sub = attach(broker, "s", 4, "tcp", Grant(0))
    conn = next(iter(broker.router.match("room/a", None)))
    closed: list[bool] = []
    sub.close = lambda: closed.append(True)  # type: ignore[attr-defined]
    broker.cork()
    broker.fan_out(Message("room/a", b"x"), None)
    conn.link.send(Pingresp())  # type: ignore[union-attr]
    conn.link.close_transport(0)  # type: ignore[union-attr]
    assert closed == [True]
    packets = _packets(b"".join(sub.writes))
    assert isinstance(packets[0], Publish) and isinstance(packets[1], Pingresp)
    await _next_iteration()
    assert len(_packets(b"".join(sub.writes))) == 2  # nothing written twice
