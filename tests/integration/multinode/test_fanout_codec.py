"""The fan-out's pure parts, no servers: the batch codec (byte layout, round trips, every
truncation and random garbage refused with MalformedPacket), cross-node takeover
decisions, the lazy registry, and purity (no asyncio, socket or time)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hubbub.fanout
from hubbub.broker.message import Message
from hubbub.errors import ConfigError, MalformedPacket, UsageError
from hubbub.fanout import FANOUTS, create_fanout
from hubbub.fanout.codec import (
    created_at_of,
    decode_batch,
    decode_message,
    encode_batch,
    encode_message,
    peek_node,
)
from hubbub.fanout.takeover import Ownership
from hubbub.mqtt.packets import EMPTY_PROPERTIES, Properties
from tests.purity import imported_modules

PROPS = Properties(payload_format_indicator=1, message_expiry_interval=30,
                   content_type="application/json", response_topic="r/1",
                   correlation_data=b"\x00c", user_properties=(("a", "1"), ("a", "2")))


def test_byte_layout_of_a_one_message_batch() -> None:
    msg = Message("a/b", b"hi", 1, True, EMPTY_PROPERTIES, 1.5)
    data = encode_batch("n1", 7, [encode_message(msg)])
    assert data == (b"H\x01\x02n1" + struct.pack("!QH", 7, 1)
                    + bytes([0x05]) + struct.pack("!d", 1.5) + b"\x00\x03a/b"
                    + b"\x00\x00\x00\x02hi")
    assert decode_batch(data).messages == (msg,)
    assert peek_node(data) == "n1"
    assert created_at_of(encode_message(msg)) == 1.5
    with pytest.raises(MalformedPacket):
        created_at_of(b"\x05")


def test_properties_travel_in_mqtt5_encoding() -> None:
    msg = Message("t", b"{}", 0, False, PROPS, 2.25)
    batch = decode_batch(encode_batch("n", 0, [encode_message(msg)]))
    assert batch.messages[0] == msg
    assert decode_message(encode_message(msg)) == msg


topics = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"),
                 min_size=1, max_size=40)
messages = st.builds(
    Message, topics, st.binary(max_size=300), st.integers(0, 2), st.booleans(),
    st.sampled_from([EMPTY_PROPERTIES, PROPS]),
    st.floats(allow_nan=False, allow_infinity=False))


@given(st.text(min_size=1, max_size=30).filter(lambda s: len(s.encode()) <= 255),
       st.integers(0, 2**64 - 1), st.lists(messages, min_size=1, max_size=8))
def test_round_trip(node: str, seq: int, msgs: list[Message]) -> None:
    batch = decode_batch(encode_batch(node, seq, [encode_message(m) for m in msgs]))
    assert (batch.node, batch.first_seq, batch.messages) == (node, seq, tuple(msgs))


def test_every_truncation_and_extension_is_refused() -> None:
    msgs = [Message("x/y", b"payload", 1, True, PROPS, 3.0), Message("z", b"", 0)]
    data = encode_batch("node", 1, [encode_message(m) for m in msgs])
    for cut in range(len(data)):
        with pytest.raises(MalformedPacket):
            decode_batch(data[:cut])
    with pytest.raises(MalformedPacket):
        decode_batch(data + b"\x00")


@given(st.binary(max_size=200))
def test_garbage_is_refused_cleanly(data: bytes) -> None:
    try:
        decode_batch(data)
    except MalformedPacket:
        pass  # the only allowed failure


@pytest.mark.parametrize("data", [
    b"X\x01\x01n" + bytes(10),  # wrong magic
    b"H\x02\x01n" + bytes(10),  # unknown version
    b"H\x01\x01\xff" + struct.pack("!QH", 0, 0),  # node id not UTF-8
    b"H\x01\x01n" + struct.pack("!QH", 0, 1) + b"\x03" + bytes(8) + b"\x00\x00"
    + bytes(4),  # QoS 3
    b"H\x01\x01n" + struct.pack("!QH", 0, 1) + b"\x00" + bytes(8) + b"\x00\x01\xff"
    + bytes(4),  # topic not UTF-8
    b"H\x01\x01n" + struct.pack("!QH", 0, 1) + b"\x08" + bytes(8) + b"\x00\x01t"
    + b"\x00\x00\x00\x02\x01\x7f" + bytes(4),  # unknown property 0x7f
    b"H\x01\x01n" + struct.pack("!QH", 0, 1) + b"\x08" + bytes(8) + b"\x00\x01t"
    + b"\x00\x00\x00\x05\x04\x01\x01\x01\x01" + bytes(4),  # property twice
])
def test_bad_batches(data: bytes) -> None:
    with pytest.raises(MalformedPacket):
        decode_batch(data)


def test_api_misuse_is_a_usage_error() -> None:
    one = encode_message(Message("t", b""))
    with pytest.raises(UsageError):
        encode_batch("", 0, [one])
    with pytest.raises(UsageError):
        encode_batch("n" * 256, 0, [one])
    with pytest.raises(UsageError):
        encode_batch("n", 0, [])


def _event(kind: str, cid: str, ts: int, version: int = 1) -> tuple[str, bytes]:
    return (f"$aws/events/presence/{kind}/{cid}",
            json.dumps({"clientId": cid, "timestamp": ts, "eventType": kind,
                        "versionNumber": version}).encode())


def test_newer_remote_connect_takes_over_older_keeps() -> None:
    own = Ownership("node-a")
    own.local(*_event("connected", "c1", 1000))
    assert own.remote(*_event("connected", "c1", 900), node="node-b") is None  # ours newer
    assert own.remote(*_event("connected", "other", 2000), node="node-b") is None
    assert own.remote(*_event("connected", "c1", 1001), node="node-b") == "c1"
    assert len(own) == 0 and own.remote(*_event("connected", "c1", 1002), "node-b") is None


def test_simultaneous_connects_leave_exactly_one() -> None:
    a, b = Ownership("node-a"), Ownership("node-b")
    ev = _event("connected", "c", 5000)
    a.local(*ev)
    b.local(*ev)
    drops = [a.remote(*ev, node="node-b"), b.remote(*ev, node="node-a")]
    assert drops == ["c", None]  # same millisecond: the larger node id wins


def test_disconnect_of_an_older_connection_does_not_forget_the_newer() -> None:
    own = Ownership("n")
    own.local(*_event("connected", "c", 100, version=1))
    own.local(*_event("connected", "c", 200, version=2))  # local takeover
    own.local(*_event("disconnected", "c", 201, version=1))  # the old one's end
    assert len(own) == 1
    own.local(*_event("disconnected", "c", 300, version=2))
    assert len(own) == 0


def test_bad_lifecycle_payloads_change_nothing() -> None:
    own = Ownership("n")
    own.local("$aws/events/presence/connected/c", b"not json")
    own.local("$aws/events/presence/connected/d", b'{"timestamp": "soon"}')
    assert len(own) == 0
    own.local(*_event("connected", "c", 100))
    assert own.remote("$aws/events/presence/connected/c", b"[]", "m") is None
    assert own.remote("$aws/events/subscriptions/subscribed/c", b"{}", "m") is None


def test_registry_is_lazy_and_names_are_checked() -> None:
    assert FANOUTS == {"redis": "hubbub.fanout.redis:RedisFanout"}
    with pytest.raises(ConfigError, match="unknown engine"):
        create_fanout("carrier-pigeon")
    with pytest.raises(ConfigError, match="redis_url"):
        create_fanout("redis", "", node_id="n")


PURE = ["codec", "takeover"]
FORBIDDEN = {"asyncio", "socket", "time"}


def test_pure_modules_import_no_io_or_clock() -> None:
    root = Path(hubbub.fanout.__file__).parent
    for mod in PURE:
        names = imported_modules(root / f"{mod}.py")
        assert not names & FORBIDDEN, f"hubbub.fanout.{mod} imports {names & FORBIDDEN}"
