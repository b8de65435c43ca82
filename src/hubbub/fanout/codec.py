"""The fan-out wire format: a batch of accepted messages from one node, as bytes.

Pure: values in, bytes out, and back; no asyncio, socket or time (a test checks it).
Not pickle (a peer must never be able to run code here) and not JSON (payloads are
bytes): a small big-endian header per batch and per message, and the message properties
in MQTT 5's own property encoding (MQTT 5.0 §2.2.2, the PUBLISH column of Table 2-4), so
that whatever a PUBLISH may carry travels unchanged and is checked by the same decoder.

    batch   := MAGIC VERSION node_len:u8 node:bytes first_seq:u64 count:u16 message*
    message := flags:u8 created_at:f64 topic_len:u16 topic:utf8
               [props_len:u32 props:bytes]  (flags bit 3)
               payload_len:u32 payload:bytes
    flags   := qos (bits 0-1) | retain (bit 2) | has properties (bit 3)

Message ``i`` of a batch has sequence number ``first_seq + i``: numbers are consecutive
per node, so a receiver sees a gap when Redis dropped something (a subscriber cut off for
a full output buffer, a publish lost in a reconnect) and counts it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from hubbub.broker.message import Message
from hubbub.errors import MalformedPacket, PeerError, UsageError
from hubbub.mqtt.packets import EMPTY_PROPERTIES, PacketType
from hubbub.mqtt.properties import decode_properties, encode_properties

MAGIC = 0x48  # "H"
VERSION = 1
#: Node ids are short labels (host, pid, random suffix); 255 bytes is a hard cap.
MAX_NODE_ID = 255
#: A batch holds at most this many messages (the u16 count).
MAX_BATCH = 65535

_BATCH = struct.Struct("!BBB")
_BATCH_TAIL = struct.Struct("!QH")
_MSG = struct.Struct("!BdH")
_U32 = struct.Struct("!I")
_RETAIN = 0x04
_PROPS = 0x08
_PUBLISH = int(PacketType.PUBLISH)


@dataclass(frozen=True, slots=True)
class Batch:
    """Messages from one node, in the order that node accepted them."""

    node: str
    first_seq: int
    messages: tuple[Message, ...]


def encode_message(msg: Message) -> bytes:
    """One message's bytes (without the batch header); concatenate them into a batch."""
    flags = msg.qos | (_RETAIN if msg.retain else 0)
    topic = msg.topic.encode()
    parts = []
    props = msg.properties
    if props is not EMPTY_PROPERTIES and props != EMPTY_PROPERTIES:
        flags |= _PROPS
        # encode_properties prefixes a varint length; the u32 length below frames it too
        # so that a reader can skip the block without parsing it.
        block = encode_properties(props, _PUBLISH)
        parts = [_U32.pack(len(block)), block]
    return b"".join((_MSG.pack(flags, msg.created_at, len(topic)), topic, *parts,
                     _U32.pack(len(msg.payload)), msg.payload))


def created_at_of(encoded: bytes) -> float:
    """The ``created_at`` of a message encoded with ``encode_message``, without decoding."""
    if len(encoded) < _MSG.size:
        raise MalformedPacket("fan-out message ends inside its header")
    created_at: float = _MSG.unpack_from(encoded, 0)[1]
    return created_at


def batch_header(node: str, first_seq: int, count: int) -> bytes:
    """The header that goes in front of ``count`` encoded messages."""
    raw = node.encode()
    if not raw or len(raw) > MAX_NODE_ID:
        raise UsageError(f"node id must be 1..{MAX_NODE_ID} bytes, got {len(raw)}")
    if not 0 < count <= MAX_BATCH:
        raise UsageError(f"a batch holds 1..{MAX_BATCH} messages, got {count}")
    return _BATCH.pack(MAGIC, VERSION, len(raw)) + raw + _BATCH_TAIL.pack(first_seq, count)


def encode_batch(node: str, first_seq: int, encoded: Sequence[bytes]) -> bytes:
    """A batch from messages already encoded with ``encode_message``."""
    return batch_header(node, first_seq, len(encoded)) + b"".join(encoded)


def peek_node(data: bytes) -> str:
    """The sending node of a batch, read without decoding its messages (to skip our own)."""
    if len(data) < _BATCH.size:
        raise MalformedPacket(f"fan-out batch of {len(data)} bytes is too short")
    magic, version, n = _BATCH.unpack_from(data, 0)
    if magic != MAGIC or version != VERSION:
        raise MalformedPacket(f"not a hubbub fan-out batch (magic {magic:#x}, "
                              f"version {version})")
    end = _BATCH.size + n
    if len(data) < end:
        raise MalformedPacket("fan-out batch ends inside its node id")
    try:
        return data[_BATCH.size:end].decode()
    except UnicodeDecodeError:
        raise MalformedPacket("fan-out node id is not UTF-8") from None


def decode_batch(data: bytes) -> Batch:
    """Decode a batch; ``MalformedPacket`` for anything that is not exactly one batch."""
    node = peek_node(data)
    i = _BATCH.size + len(node.encode())
    if len(data) < i + _BATCH_TAIL.size:
        raise MalformedPacket("fan-out batch ends inside its header")
    first_seq, count = _BATCH_TAIL.unpack_from(data, i)
    i += _BATCH_TAIL.size
    out = []
    for _ in range(count):
        msg, i = _decode_message(data, i)
        out.append(msg)
    if i != len(data):
        raise MalformedPacket(f"{len(data) - i} bytes after the last message of the batch")
    return Batch(node, first_seq, tuple(out))


def decode_message(data: bytes) -> Message:
    """One message encoded with ``encode_message`` (the retained hash stores these)."""
    msg, i = _decode_message(data, 0)
    if i != len(data):
        raise MalformedPacket(f"{len(data) - i} bytes after the message")
    return msg


def _decode_message(data: bytes, i: int) -> tuple[Message, int]:
    if len(data) < i + _MSG.size:
        raise MalformedPacket("fan-out message ends inside its header")
    flags, created_at, topic_len = _MSG.unpack_from(data, i)
    i += _MSG.size
    qos = flags & 0x03
    if qos == 3 or flags & ~0x0F:
        raise MalformedPacket(f"fan-out message flags {flags:#04x}")
    end = i + topic_len
    if len(data) < end:
        raise MalformedPacket("fan-out message ends inside its topic")
    try:
        topic = data[i:end].decode()
    except UnicodeDecodeError:
        raise MalformedPacket("fan-out topic is not UTF-8") from None
    i = end
    props = EMPTY_PROPERTIES
    if flags & _PROPS:
        block, i = _read_block(data, i, "properties")
        try:
            props, used = decode_properties(block, 0, _PUBLISH)
        except PeerError as exc:  # e.g. a property twice (ProtocolError): same answer
            raise MalformedPacket(f"fan-out properties: {exc}") from None
        if used != len(block):
            raise MalformedPacket("fan-out properties length disagrees with their content")
    payload, i = _read_block(data, i, "payload")
    return Message(topic, payload, qos, bool(flags & _RETAIN), props, created_at), i


def _read_block(data: bytes, i: int, what: str) -> tuple[bytes, int]:
    if len(data) < i + _U32.size:
        raise MalformedPacket(f"fan-out message ends inside its {what} length")
    (n,) = _U32.unpack_from(data, i)
    i += _U32.size
    if len(data) < i + n:
        raise MalformedPacket(f"fan-out message ends inside its {what}")
    return bytes(data[i:i + n]), i + n
