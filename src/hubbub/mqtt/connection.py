"""The server side of one MQTT 3.1.1 / 5.0 network connection, sans-IO (h11 style).

Rules of this file:

- Bytes in, packets out: ``feed(bytes)`` then ``next_packet()`` until None (or
  ``receive_data(bytes) -> list[Packet]``); packets in, bytes out: ``send(packet) -> bytes``.
  No sockets, no asyncio, no clock: the caller owns the socket and the time.
- States: CONNECTING (until we send CONNACK) -> CONNECTED -> CLOSED. Any peer fault moves
  to ERROR, which refuses more work; ``error_reason_hint`` is the reason code to send and
  ``goodbye()`` gives the bytes (CONNACK, DISCONNECT, or nothing in 3.1.1) to write
  before closing. A caller whose own rules refuse the peer (a broker's client id policy)
  says so with ``fail(exc)``. A successful CONNACK moves to CONNECTED, a refusing one to
  CLOSED; so does a DISCONNECT in either direction, and ``close()`` (the socket is gone).
- ``hold_after_connect``: bytes after CONNECT stay undecoded until CONNACK is sent, for a
  server that decides on CONNECT asynchronously (authentication) [MQTT-3.1.4-5 (v5)].
- Everything checked here is about the connection, not the session: the first packet
  must be CONNECT [MQTT-3.1.0-1] and only one [MQTT-3.1.0-2]; a server never receives
  server packets; inbound topic aliases are resolved; topic names (will included) are
  valid; our Receive Maximum, Maximum QoS, Retain Available, Maximum Packet Size and
  payload limit are enforced. Session state (QoS 2 de-duplication, redelivery,
  subscriptions, the messages behind packet ids) belongs to the broker because it
  outlives the connection.
- Outbound, the connection allocates packet identifiers (a resumed session's ids are
  claimed with ``claim_packet_id``), keeps the client's Receive Maximum quota
  (``can_send_qos``), honours the client's Maximum Packet Size (a PUBLISH that would exceed
  it is dropped [MQTT-3.1.2-25]) and, if enabled, assigns topic aliases. A PUBLISH encoded
  once for many connections goes through ``send_publish_bytes`` (same accounting, no
  re-encoding).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from hubbub.errors import PeerError, ProtocolError, UsageError
from hubbub.mqtt.aliases import InboundAliases, OutboundAliases
from hubbub.mqtt.codec import encode
from hubbub.mqtt.decoder import MAX_PACKET_SIZE, Decoder
from hubbub.mqtt.errors import ConnectRefused, PacketTooLarge, ReceiveMaximumExceeded
from hubbub.mqtt.packets import (
    EMPTY_PROPERTIES,
    MQTT_5,
    MQTT_311,
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    Properties,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Unsuback,
    Unsubscribe,
)
from hubbub.mqtt.reason_codes import ALLOWED_REASON_CODES, ReasonCode, connack_code_311_exact
from hubbub.mqtt.topics import validate_topic_name


class ConnectionState(Enum):
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


# Module names for the states: the broker compares them per subscriber on its hot path.
CONNECTING, CONNECTED, CLOSED, ERROR = ConnectionState


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What this server accepts on one connection; v5 clients are told in CONNACK."""

    max_packet_size: int = MAX_PACKET_SIZE  # inbound, whole packet in bytes
    receive_maximum: int = 65_535  # inbound unacknowledged QoS 1/2 PUBLISHes (v5)
    topic_alias_maximum: int = 0  # inbound aliases a v5 client may use (0 = none)
    maximum_qos: int = 2  # IoT Core caps at 1
    retain_available: bool = True
    max_topic_bytes: int = 65_535
    max_topic_levels: int = 65_535
    max_payload_size: int = MAX_PACKET_SIZE  # PUBLISH and will payloads (IoT Core: 128 KB)
    max_inflight: int = 65_535  # outbound QoS>0 in flight; the client's Receive Maximum caps it
    keep_alive_grace: float = 1.5  # silence of 1.5 keep-alive periods ends it [MQTT-3.1.2-24]
    outbound_topic_aliases: bool = False  # assign aliases when the client allows them


#: Outbound aliases off (the default): shared, since a maximum of 0 never stores anything.
_NO_OUT_ALIASES = OutboundAliases(0)


class ServerConnection:
    """One client's connection as seen by the server; see the module docstring."""

    # Slots: a broker keeps one per client, thousands at once.
    __slots__ = ("limits", "state", "connect", "version", "error", "error_reason_hint",
                 "keep_alive", "client_receive_maximum", "client_maximum_packet_size",
                 "client_topic_alias_maximum", "send_quota", "dropped_oversize", "_hold",
                 "_connack_sent", "_decoder", "_inbound_unacked", "_outbound_inflight",
                 "_next_id", "_in_aliases", "_out_aliases")

    def __init__(self, limits: ConnectionLimits | None = None, *,
                 hold_after_connect: bool = False) -> None:
        self.limits = lim = limits or ConnectionLimits()
        self.state = CONNECTING
        self.connect: Connect | None = None  # the CONNECT, once received
        #: 4 (3.1.1) or 5 once CONNECT arrived, else None.
        self.version: int | None = None
        self.error: PeerError | None = None
        self.error_reason_hint: int | None = None
        #: Keep alive in seconds (the client's, or the Server Keep Alive we sent).
        self.keep_alive = 0
        self.client_receive_maximum = 65_535
        self.client_maximum_packet_size = MAX_PACKET_SIZE
        self.client_topic_alias_maximum = 0
        #: Outbound QoS>0 PUBLISHes allowed in flight: ours, capped by the client's.
        self.send_quota = min(lim.max_inflight, 65_535)
        #: PUBLISHes dropped because they exceeded the client's Maximum Packet Size.
        self.dropped_oversize = 0
        self._hold = hold_after_connect
        self._connack_sent = False
        self._decoder = Decoder(lim.max_packet_size)
        # Made on the first QoS>0 PUBLISH of a v5 client (an empty set is 216 bytes).
        self._inbound_unacked: set[int] | None = None
        self._outbound_inflight: set[int] | None = None  # made on the first QoS>0 PUBLISH
        self._next_id = 1
        self._in_aliases = InboundAliases(lim.topic_alias_maximum)
        self._out_aliases = _NO_OUT_ALIASES

    # -- properties the broker reads -----------------------------------------------

    @property
    def client_id(self) -> str | None:
        return self.connect.client_id if self.connect else None

    @property
    def closed(self) -> bool:
        """CLOSED or ERROR: nothing more is received or sent."""
        return self.state is CLOSED or self.state is ERROR

    @property
    def connack_sent(self) -> bool:
        return self._connack_sent

    @property
    def keep_alive_timeout(self) -> float | None:
        """Seconds of silence after which the client is gone [MQTT-3.1.2-24 (5.0: -22)]."""
        return self.keep_alive * self.limits.keep_alive_grace if self.keep_alive else None

    @property
    def inbound_unacked(self) -> int:
        return len(self._inbound_unacked or ())

    @property
    def outbound_inflight(self) -> int:
        return len(self._outbound_inflight or ())

    # -- receiving -----------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Add received bytes; ``next_packet`` decodes them. Ignored after CLOSED."""
        if self.state is ERROR:
            assert self.error is not None
            raise self.error
        if self.state is not CLOSED:
            self._decoder.feed(data)

    def next_packet(self) -> Packet | None:
        """The next validated packet; None when more bytes are needed, after CLOSED, or
        while CONNECT waits for its CONNACK (``hold_after_connect``).

        Raises the ``PeerError`` of a fault, and again on every later call (ERROR).
        """
        state = self.state
        if state is not CONNECTED:
            if state is ERROR:
                assert self.error is not None
                raise self.error
            if state is CLOSED or (self._hold and self.connect is not None):
                return None
        try:
            packet = self._decoder.next_packet()
            return None if packet is None else self._receive(packet)
        except PeerError as exc:
            self._fail(exc)
            raise

    def receive_data(self, data: bytes) -> list[Packet]:
        """Validated packets from ``data`` (possibly none, possibly many).

        Raises the ``PeerError`` of the first fault; the packets decoded before it are on
        the exception as ``packets``. After CLOSED, bytes are ignored.
        """
        self.feed(data)
        packets: list[Packet] = []
        try:
            # Stops at DISCONNECT: nothing may follow it [MQTT-3.14.4-2 (client side)]
            while (packet := self.next_packet()) is not None:
                packets.append(packet)
        except PeerError as exc:
            exc.packets = packets  # type: ignore[attr-defined]
            raise
        return packets

    def _receive(self, packet: Packet) -> Packet:
        if type(packet) is Publish:  # the hot paths first
            return self._receive_publish(packet)
        if type(packet) is Puback or type(packet) is Pubcomp:
            if self._outbound_inflight:
                self._outbound_inflight.discard(packet.packet_id)
            return packet
        match packet:
            case Pubrec():
                if packet.reason_code >= 0x80 and self._outbound_inflight:
                    # The exchange ends here [MQTT 5.0 §4.3.3].
                    self._outbound_inflight.discard(packet.packet_id)
            case Pubrel() | Subscribe() | Unsubscribe() | Pingreq() | Auth():
                pass
            case Connect():
                if self.connect is not None:
                    raise ProtocolError("second CONNECT [MQTT-3.1.0-2]")
                self._receive_connect(packet)
            case Disconnect():
                expiry = packet.properties.session_expiry_interval
                assert self.connect is not None
                if expiry and not self.connect.properties.session_expiry_interval:
                    raise ProtocolError("DISCONNECT sets a session expiry after CONNECT "
                                        "had 0 [MQTT-3.14.2-2]")
                self.state = CLOSED
            case _:
                raise ProtocolError(f"a client does not send {type(packet).__name__}")
        return packet

    def _receive_connect(self, c: Connect) -> None:
        self.connect = c
        self.version = c.protocol_level
        if not c.client_id and not c.clean_start and c.protocol_level == MQTT_311:
            raise ConnectRefused("empty client id needs clean session [MQTT-3.1.3-8]",
                                 mqtt_reason=ReasonCode.CLIENT_IDENTIFIER_NOT_VALID)
        will = c.will
        if will is not None:
            self._check_topic(will.topic)
            # The will is a PUBLISH to come: the same limits [MQTT-3.2.2-12, 3.2.2-13]
            self._check_message(will.qos, will.retain, will.payload, "will ")
        self.keep_alive = c.keep_alive
        props = c.properties
        if props.receive_maximum is not None:
            self.client_receive_maximum = props.receive_maximum
            self.send_quota = min(self.limits.max_inflight, props.receive_maximum)
        if props.maximum_packet_size is not None:
            self.client_maximum_packet_size = props.maximum_packet_size
        if props.topic_alias_maximum is not None:
            self.client_topic_alias_maximum = props.topic_alias_maximum
            if self.limits.outbound_topic_aliases:
                self._out_aliases = OutboundAliases(props.topic_alias_maximum)

    def _receive_publish(self, p: Publish) -> Publish:
        v5 = self.version == MQTT_5
        if v5:
            p = self._in_aliases.resolve(p)
        self._check_topic(p.topic)
        self._check_message(p.qos, p.retain, p.payload, "")
        if v5 and p.properties.payload_format_indicator == 1:
            try:
                p.payload.decode("utf-8")
            except UnicodeDecodeError:
                raise PeerError("payload is not UTF-8 as its format indicator says "
                                "[MQTT-3.3.2-4]",
                                mqtt_reason=ReasonCode.PAYLOAD_FORMAT_INVALID) from None
        # Receive Maximum is MQTT 5's [MQTT-3.3.4-9]; a 3.1.1 client was never told one.
        unacked = self._inbound_unacked
        if p.qos and v5 and (unacked is None or p.packet_id not in unacked):
            # A resent QoS 2 id is already counted; the session decides if it is a dup.
            if unacked is None:
                unacked = self._inbound_unacked = set()
            if len(unacked) >= self.limits.receive_maximum:
                raise ReceiveMaximumExceeded(
                    f"more than {self.limits.receive_maximum} unacknowledged QoS>0 PUBLISHes "
                    "[MQTT 5.0 §3.3.4]")
            assert p.packet_id is not None
            unacked.add(p.packet_id)
        return p

    def _check_message(self, qos: int, retain: bool, payload: bytes, what: str) -> None:
        lim = self.limits
        if qos > lim.maximum_qos:
            raise PeerError(f"{what}QoS {qos} above the maximum QoS {lim.maximum_qos} "
                            "[MQTT-3.2.2-11, 3.2.2-12]", mqtt_reason=ReasonCode.QOS_NOT_SUPPORTED)
        if retain and not lim.retain_available:
            raise PeerError(f"{what}retain is not available [MQTT-3.2.2-13, 3.2.2-14]",
                            mqtt_reason=ReasonCode.RETAIN_NOT_SUPPORTED)
        if len(payload) > lim.max_payload_size:
            raise PacketTooLarge(f"{what}payload of {len(payload)} bytes exceeds "
                                 f"{lim.max_payload_size}")

    def _check_topic(self, topic: str) -> None:
        validate_topic_name(topic, max_bytes=self.limits.max_topic_bytes,
                            max_levels=self.limits.max_topic_levels)

    def _fail(self, exc: PeerError) -> None:
        self.state = ERROR
        self.error = exc
        self.error_reason_hint = exc.mqtt_reason

    def fail(self, exc: PeerError) -> None:
        """The caller's own rules refuse the peer: move to ERROR; ``goodbye()`` answers."""
        if self.state is not ERROR:
            self._fail(exc)

    def close(self) -> None:
        """The network connection is closed or closing: refuse more work."""
        if self.state is not ERROR:
            self.state = CLOSED

    # -- sending -------------------------------------------------------------------

    def send(self, packet: Packet) -> bytes:
        """The bytes for ``packet``, updating the state; b"" if nothing must be written."""
        if self.state is ERROR or self.state is CLOSED:
            raise UsageError(f"cannot send {type(packet).__name__} in state {self.state.name}")
        version = self.version
        if version is None:
            raise UsageError("nothing can be sent before CONNECT is received")
        if self.state is CONNECTING and not isinstance(packet, Connack):
            raise UsageError(f"{type(packet).__name__} before CONNACK [MQTT-3.2.0-2]")
        match packet:
            case Publish():
                return self._send_publish(packet, version)
            case Connack():
                return self._send_connack(packet, version)
            case Puback() | Pubcomp():
                if self._inbound_unacked:
                    self._inbound_unacked.discard(packet.packet_id)
            case Pubrec() if packet.reason_code >= 0x80:
                if self._inbound_unacked:
                    self._inbound_unacked.discard(packet.packet_id)
            case Disconnect():
                self.state = CLOSED
                if version == MQTT_311:
                    return b""  # a 3.1.1 server just closes [MQTT 3.1.1 §3.14]
            case Pubrec() | Pubrel() | Suback() | Unsuback() | Pingresp() | Auth():
                pass
            case _:
                raise UsageError(f"a server does not send {type(packet).__name__}")
        return encode(packet, version)

    def _send_connack(self, c: Connack, version: int) -> bytes:
        if self._connack_sent:
            raise UsageError("CONNACK sent twice")
        self._connack_sent = True
        if c.reason_code >= 0x80:
            self.state = CLOSED  # the server closes after [MQTT-3.2.2-7]
            return encode(c, version)
        lim = self.limits
        props = c.properties
        # Announce our limits unless the broker already did [MQTT 5.0 §3.2.2.3] (v5 only:
        # a 3.1.1 CONNACK has no properties).
        extra: dict[str, object] = {}
        if version == MQTT_5:
            if lim.receive_maximum != 65_535 and props.receive_maximum is None:
                extra["receive_maximum"] = lim.receive_maximum
            if lim.topic_alias_maximum and props.topic_alias_maximum is None:
                extra["topic_alias_maximum"] = lim.topic_alias_maximum
            if lim.max_packet_size < MAX_PACKET_SIZE and props.maximum_packet_size is None:
                extra["maximum_packet_size"] = lim.max_packet_size
            if lim.maximum_qos < 2 and props.maximum_qos is None:
                extra["maximum_qos"] = lim.maximum_qos
            if not lim.retain_available and props.retain_available is None:
                extra["retain_available"] = 0
        if extra:
            c = replace(c, properties=replace(props, **extra))  # type: ignore[arg-type]
        if c.properties.server_keep_alive is not None:
            self.keep_alive = c.properties.server_keep_alive  # [MQTT-3.2.2-21]
        self.state = CONNECTED
        return encode(c, version)

    def _send_publish(self, p: Publish, version: int) -> bytes:
        if p.qos:
            if p.packet_id is None:
                raise UsageError("QoS>0 PUBLISH needs a packet id; use allocate_packet_id()")
            self._inflight_ids().add(p.packet_id)
        if version == MQTT_5:
            p = self._out_aliases.apply(p)
        return self.send_publish_bytes(encode(p, version), p.packet_id)

    def send_publish_bytes(self, data: bytes, packet_id: int | None = None) -> bytes:
        """``data``, a PUBLISH encoded elsewhere (once for many connections), as it is, or
        b"" when it exceeds the client's Maximum Packet Size: then it is discarded as if
        delivered [MQTT-3.1.2-25] and ``packet_id`` (from ``allocate_packet_id`` or
        ``claim_packet_id``) is free again. Outbound topic aliases do not apply.
        """
        if len(data) <= self.client_maximum_packet_size:
            return data
        self.dropped_oversize += 1
        if packet_id is not None and self._outbound_inflight:
            self._outbound_inflight.discard(packet_id)
        return b""

    # -- the outbound quota --------------------------------------------------------

    def can_send_qos(self) -> bool:
        """True while the client's Receive Maximum (and ours) allows one more QoS>0 PUBLISH."""
        return len(self._outbound_inflight or ()) < self.send_quota

    def allocate_packet_id(self) -> int:
        """A free packet id (1..65535) [MQTT-2.2.1-3], in flight until acknowledged.

        Raises ``UsageError`` when the quota is used up: check ``can_send_qos`` first.
        """
        inflight = self._inflight_ids()
        if len(inflight) >= self.send_quota or len(inflight) >= 65_535:
            raise UsageError("no outbound QoS quota left; check can_send_qos() first")
        pid = self._next_id
        while pid in inflight:
            pid = pid % 65_535 + 1
        self._next_id = pid % 65_535 + 1
        inflight.add(pid)
        return pid

    def claim_packet_id(self, packet_id: int) -> None:
        """Count a packet id chosen elsewhere (a resumed session's) as in flight."""
        self._inflight_ids().add(packet_id)

    def release_packet_id(self, packet_id: int) -> None:
        """Give back an id the broker will not use (e.g. a message it dropped)."""
        if self._outbound_inflight:
            self._outbound_inflight.discard(packet_id)

    def _inflight_ids(self) -> set[int]:
        ids = self._outbound_inflight
        if ids is None:
            ids = self._outbound_inflight = set()
        return ids

    # -- ending --------------------------------------------------------------------

    def goodbye(self) -> bytes:
        """After an error: what to write before closing (CONNACK, DISCONNECT or b"").

        Before CONNACK a v5 client gets CONNACK with the reason [MQTT 5.0 §3.2.2.2], any
        other level a 3.1.1 CONNACK (the one every client can parse) only when a 3.1.1
        return code says it (e.g. 1 for an unsupported protocol level [MQTT-3.1.2-2]);
        after CONNACK a v5 client gets DISCONNECT with the reason [MQTT-4.13.2-1], a 3.1.1
        client nothing.
        """
        exc = self.error
        if exc is None:
            raise UsageError("goodbye() is for the ERROR state")
        reason = exc.mqtt_reason
        props = _reason_string(exc)
        if self._connack_sent:
            if self.version == MQTT_5:
                return encode(Disconnect(_allowed(reason, 14), props), MQTT_5)
            return b""
        level = self.version if self.connect is not None else getattr(exc, "protocol_level",
                                                                        None)
        if level is None:
            return b""  # not even a CONNECT: just close [MQTT-3.1.0-1]
        if level == MQTT_5:
            return encode(Connack(False, _allowed(reason, 2), props), MQTT_5)
        if connack_code_311_exact(reason) is None:
            return b""
        return encode(Connack(False, reason), MQTT_311)


def _allowed(reason: int, ptype: int) -> int:
    return reason if reason in ALLOWED_REASON_CODES[ptype] else ReasonCode.UNSPECIFIED_ERROR


def _reason_string(exc: PeerError) -> Properties:
    text = str(exc)
    # Keep it short: it goes to the client and must fit its maximum packet size.
    return Properties(reason_string=text[:200]) if text else EMPTY_PROPERTIES
