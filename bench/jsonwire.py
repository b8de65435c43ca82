"""JSON payloads for the chat scenarios, stamped in text so the stamp survives a rule.

The binary stamp of ``mqttwire`` works when the broker forwards the payload untouched.
The chat path rewrites it (``ChatRepublish`` builds a new JSON object from ``room``,
``message.user`` and ``message.text``), and the stream function turns records into a
room update listing user names. So the stamp travels as text: ``~T`` and 20 decimal digits
of ``perf_counter_ns``, inside a string field the rule or function copies through.

Pure: no asyncio, socket or time.
"""

from __future__ import annotations

import json
from typing import Any

from bench import mqttwire as mw

MARK = b"~T"
DIGITS = 20
SLOT = "{stamp}"  # where a template's payload takes the stamp


def stamp_text(stamp_ns: int) -> str:
    """The stamp as it appears in a payload (22 characters: valid as a chat user name)."""
    if not 0 <= stamp_ns < 10**DIGITS:
        raise mw.WireError(f"stamp out of range: {stamp_ns}")
    return f"~T{stamp_ns:0{DIGITS}d}"


def read_stamp_text(text: str) -> int | None:
    """The stamp written by ``stamp_text``, or None if ``text`` is not one."""
    if len(text) != len(MARK) + DIGITS or not text.startswith("~T") or not text[2:].isdigit():
        return None
    return int(text[2:])


class JsonTemplate:
    """PUBLISH packets whose JSON payload holds one stamp slot; the same interface as
    ``mqttwire.PublishTemplate`` (``qos``, ``size``, ``build(stamp, packet_id)``)."""

    def __init__(self, topic: str, qos: int, payload: str) -> None:
        if qos not in (0, 1):
            raise mw.WireError("the generator publishes QoS 0 or 1 only")
        if payload.count(SLOT) != 1:
            raise mw.WireError(f"payload must hold exactly one {SLOT} slot")
        json.loads(payload.replace(SLOT, stamp_text(0)))  # fails here, not in the broker
        self.qos = qos
        before, after = payload.split(SLOT)
        self._before, self._after = before.encode(), after.encode()
        topic_bytes = len(topic.encode()).to_bytes(2, "big") + topic.encode()
        self.payload_size = len(self._before) + len(MARK) + DIGITS + len(self._after)
        rest = len(topic_bytes) + (2 if qos else 0) + self.payload_size
        self._head = bytes([0x30 | (qos << 1)]) + mw.remaining_length(rest) + topic_bytes
        self.size = len(self._head) - len(topic_bytes) + rest

    def build(self, stamp_ns: int, packet_id: int = 0) -> bytes:
        stamp = b"~T%020d" % stamp_ns
        if self.qos:
            return self._head + packet_id.to_bytes(2, "big") + self._before + stamp + self._after
        return self._head + self._before + stamp + self._after


def chat_message(room: str, user: str, size: int) -> str:
    """A ``chat/out`` message of ``size`` bytes with a stamp slot at the start of its text:
    ``{"room": r, "message": {"user": u, "text": "~T... xxx"}}``."""
    base = json.dumps({"room": room, "message": {"user": user, "text": SLOT + " "}})
    pad = size - (len(base.encode()) - len(SLOT) + len(MARK) + DIGITS)
    if pad < 0:
        raise mw.WireError(f"a chat message for room {room!r} needs more than {size} bytes")
    return base.replace(SLOT + " ", SLOT + " " + "x" * pad)


def split_publish(first_byte: int, body: bytes) -> tuple[int, bytes]:
    """(packet id or 0, payload) of a received PUBLISH body (variable header + payload)."""
    at = 2 + int.from_bytes(body[:2], "big")
    if first_byte & 0x06:
        return int.from_bytes(body[at : at + 2], "big"), body[at + 2 :]
    return 0, body[at:]


def publish_stamp(first_byte: int, body: bytes) -> tuple[int, int]:
    """(packet id or 0, stamp) of a received PUBLISH whose payload holds a text stamp
    anywhere (stamp 0 when it holds none: such a delivery is counted, not timed)."""
    packet_id, payload = split_publish(first_byte, body)
    at = payload.find(MARK)
    if at < 0:
        return packet_id, 0
    digits = payload[at + len(MARK) : at + len(MARK) + DIGITS]
    return packet_id, int(digits) if len(digits) == DIGITS and digits.isdigit() else 0


def typing_update(payload: bytes) -> tuple[str, list[int]] | None:
    """(room, stamps of the users named) of a room's ``typing`` update, or None when the
    payload is another kind of message (or not JSON at all)."""
    try:
        doc: Any = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("type") != "typing":
        return None
    room, users = doc.get("room"), doc.get("users")
    if not isinstance(room, str) or not isinstance(users, list):
        return None
    stamps = [read_stamp_text(u) for u in users if isinstance(u, str)]
    return room, [s for s in stamps if s is not None]
