"""JSON payloads stamped in text: built by the generator, read back after a rule rewrote them."""

from __future__ import annotations

import json

import pytest
from bench import jsonwire as jw
from bench import mqttwire as mw


def _body(packet: bytes) -> tuple[int, bytes]:
    [(first, body)] = mw.PacketSplitter().feed(packet)
    return first, body


def test_chat_message_has_the_size_asked_and_a_stamp_slot() -> None:
    text = jw.chat_message("lobby", "ann", 128)
    assert len(text.replace(jw.SLOT, jw.stamp_text(5)).encode()) == 128
    doc = json.loads(text.replace(jw.SLOT, jw.stamp_text(5)))
    assert doc["room"] == "lobby" and doc["message"]["user"] == "ann"
    assert doc["message"]["text"].startswith(jw.stamp_text(5) + " x")
    with pytest.raises(mw.WireError, match="more than 20 bytes"):
        jw.chat_message("lobby", "ann", 20)


@pytest.mark.parametrize("qos", [0, 1])
def test_template_round_trip(qos: int) -> None:
    tpl = jw.JsonTemplate("chat/out", qos, jw.chat_message("r1", "u", 100))
    packet = tpl.build(123_456_789_012, packet_id=7)
    assert len(packet) == tpl.size and tpl.payload_size == 100
    first, body = _body(packet)
    assert first >> 4 == mw.PUBLISH and (first >> 1) & 3 == qos
    assert jw.publish_stamp(first, body) == (7 if qos else 0, 123_456_789_012)
    _, payload = jw.split_publish(first, body)
    assert json.loads(payload)["room"] == "r1"


def test_stamp_found_in_a_rewritten_payload() -> None:
    # What ChatRepublish sends on: a new object with the text copied through.
    doc = {
        "type": "message",
        "id": "1-a",
        "room": "r",
        "user": "u",
        "text": jw.stamp_text(42) + " xxx",
        "clientId": "c",
        "timestamp": 1,
    }
    tpl = jw.JsonTemplate("chat/pub/r", 1, json.dumps(doc).replace(jw.stamp_text(42), jw.SLOT))
    first, body = _body(tpl.build(99, 3))
    assert jw.publish_stamp(first, body) == (3, 99)


def test_payload_without_stamp_reads_zero() -> None:
    tpl = mw.PublishTemplate("t", 0, 8)
    first, body = _body(b"\x30" + mw.remaining_length(3 + 5) + b"\x00\x01t" + b"hello")
    assert jw.publish_stamp(first, body) == (0, 0)
    assert tpl.qos == 0


def test_template_rejects_bad_payloads() -> None:
    with pytest.raises(mw.WireError, match="exactly one"):
        jw.JsonTemplate("t", 0, '{"a": 1}')
    with pytest.raises(mw.WireError, match="exactly one"):
        jw.JsonTemplate("t", 0, '{"a": "{stamp}", "b": "{stamp}"}')
    with pytest.raises(ValueError):
        jw.JsonTemplate("t", 0, '{"a": {stamp}')  # not JSON once stamped
    with pytest.raises(mw.WireError, match="QoS"):
        jw.JsonTemplate("t", 2, '{"a": "{stamp}"}')
    with pytest.raises(mw.WireError, match="range"):
        jw.stamp_text(-1)


def test_typing_update() -> None:
    users = [jw.stamp_text(3), "someone", jw.stamp_text(1)]
    doc = json.dumps({"type": "typing", "room": "r", "users": users}).encode()
    assert jw.typing_update(doc) == ("r", [3, 1])
    assert jw.typing_update(b'{"type": "reactions", "room": "r"}') is None
    assert jw.typing_update(b"not json") is None
    assert jw.typing_update(b'{"type": "typing", "room": 1, "users": []}') is None
    assert jw.read_stamp_text("~T123") is None
    assert jw.read_stamp_text("~Tabcdefghijklmnopqrst") is None
