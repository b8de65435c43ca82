"""The server side of one MQTT 3.1.1 / 5.0 network connection, sans-IO (h11 style).

Rules of this file:

- Bytes in, packets out: ``receive_data(bytes) -> list[Packet]``; packets in, bytes out:
  ``send(packet) -> bytes``. No sockets, no asyncio, no clock: the caller owns the
  socket and the time (it reads ``keep_alive_timeout`` and closes idle connections).
- States: CONNECTING (until we send CONNACK) -> CONNECTED -> CLOSED. Any peer fault moves
  to ERROR, which refuses more work; ``error_reason_hint`` is the reason code to send and
  ``goodbye()`` gives the bytes (CONNACK, DISCONNECT, or nothing in 3.1.1) to write
  before closing. A successful CONNACK moves to CONNECTED, a refusing one to CLOSED; so
  does a DISCONNECT in either direction.
- Everything checked here is about the connection, not the session: the first packet
  must be CONNECT [MQTT-3.1.0-1] and only one [MQTT-3.1.0-2]; a server never receives
  server packets; inbound topic aliases are resolved; topic names are valid; our Receive
  Maximum, Maximum QoS, Retain Available and Maximum Packet Size are enforced. Session
  state (QoS 2 de-duplication, redelivery, subscriptions) belongs to the broker because it
  outlives the connection.
- Outbound, the connection allocates packet identifiers, keeps the client's Receive
  Maximum quota (``can_send_qos``), honours the client's Maximum Packet Size (a PUBLISH
  that would exceed it is dropped [MQTT-3.1.2-25]) and, if enabled, assigns topic aliases.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from hubbub.errors import PeerError, ProtocolError, UsageError
from hubbub.mqtt.aliases import InboundAliases, OutboundAliases
from hubbub.mqtt.codec import encode
from hubbub.mqtt.decoder import MAX_PACKET_SIZE, Decoder
from hubbub.mqtt.errors import ConnectRefused, ReceiveMaximumExceeded
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


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What this server accepts on one connection; v5 clients are told in CONNACK."""

    max_packet_size: int = MAX_PACKET_SIZE  # inbound, whole packet in bytes
    receive_maximum: int = 65_535  # inbound unacknowledged QoS 1/2 PUBLISHes
    topic_alias_maximum: int = 0  # inbound aliases a v5 client may use (0 = none)
    maximum_qos: int = 2  # IoT Core caps at 1
    retain_available: bool = True
    max_topic_bytes: int = 65_535
    max_topic_levels: int = 65_535
    outbound_topic_aliases: bool = False  # assign aliases when the client allows them


_CLIENT_PACKETS = (Connect, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe, Unsubscribe,
                   Pingreq, Disconnect, Auth)


class ServerConnection:
    """One client's connection as seen by the server; see the module docstring."""

    def __init__(self, limits: ConnectionLimits | None = None) -> None:
        self.limits = limits or ConnectionLimits()
        self.state = ConnectionState.CONNECTING
        self.connect: Connect | None = None  # the CONNECT, once received
        self.error: PeerError | None = None
        self.error_reason_hint: int | None = None
        #: Keep alive in seconds (the client's, or the Server Keep Alive we sent).
        self.keep_alive = 0
        self.client_receive_maximum = 65_535
        self.client_maximum_packet_size = MAX_PACKET_SIZE
        self.client_topic_alias_maximum = 0
        #: PUBLISHes dropped because they exceeded the client's Maximum Packet Size.
        self.dropped_oversize = 0
        self._connack_sent = False
        self._decoder = Decoder(self.limits.max_packet_size)
        self._inbound_unacked: set[int] = set()
        self._outbound_inflight: set[int] = set()
        self._next_id = 1
        self._in_aliases = InboundAliases(self.limits.topic_alias_maximum)
        self._out_aliases = OutboundAliases(0)

    # -- properties the broker reads -----------------------------------------------

    @property
    def version(self) -> int | None:
        """4 (3.1.1) or 5 once CONNECT arrived, else None."""
        return self._decoder.version

    @property
    def client_id(self) -> str | None:
        return self.connect.client_id if self.connect else None

    @property
    def keep_alive_timeout(self) -> float | None:
        """Seconds of silence after which the client is gone [MQTT-3.1.2-24 (5.0: -22)]."""
        return self.keep_alive * 1.5 if self.keep_alive else None

    @property
    def inbound_unacked(self) -> int:
        return len(self._inbound_unacked)

    @property
    def outbound_inflight(self) -> int:
        return len(self._outbound_inflight)

    # -- receiving -----------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Packet]:
        """Validated packets from ``data`` (possibly none, possibly many).

        Raises the ``PeerError`` of the first fault; the packets decoded before it are on
        the exception as ``packets``. After CLOSED, bytes are ignored.
        """
        if self.state is ConnectionState.ERROR:
            assert self.error is not None
            raise self.error
        if self.state is ConnectionState.CLOSED:
            return []
        self._decoder.feed(data)
        packets: list[Packet] = []
        try:
            # Stop at DISCONNECT: nothing may follow it [MQTT-3.14.4-2 (client side)]
            while not self._closed():
                packet = self._decoder.next_packet()
                if packet is None:
                    break
                packets.append(self._receive(packet))
        except PeerError as exc:
            exc.packets = packets  # type: ignore[attr-defined]
            self._fail(exc)
            raise
        return packets

    def _closed(self) -> bool:
        return self.state is ConnectionState.CLOSED

    def _receive(self, packet: Packet) -> Packet:
        if not isinstance(packet, _CLIENT_PACKETS):
            raise ProtocolError(f"a client does not send {type(packet).__name__}")
        match packet:
            case Publish():
                return self._receive_publish(packet)
            case Connect():
                if self.connect is not None:
                    raise ProtocolError("second CONNECT [MQTT-3.1.0-2]")
                self._receive_connect(packet)
            case Puback() | Pubcomp():
                self._outbound_inflight.discard(packet.packet_id)
            case Pubrec():
                if packet.reason_code >= 0x80:  # the exchange ends here [MQTT 5.0 §4.3.3]
                    self._outbound_inflight.discard(packet.packet_id)
            case Disconnect():
                expiry = packet.properties.session_expiry_interval
                assert self.connect is not None
                if expiry and not self.connect.properties.session_expiry_interval:
                    raise ProtocolError("DISCONNECT sets a session expiry after CONNECT "
                                        "had 0 [MQTT-3.14.2-2]")
                self.state = ConnectionState.CLOSED
        return packet

    def _receive_connect(self, c: Connect) -> None:
        self.connect = c
        if not c.client_id and not c.clean_start and c.protocol_level == MQTT_311:
            raise ConnectRefused("empty client id needs clean session [MQTT-3.1.3-8]",
                                 mqtt_reason=ReasonCode.CLIENT_IDENTIFIER_NOT_VALID)
        if c.will is not None:
            self._check_topic(c.will.topic)
        self.keep_alive = c.keep_alive
        props = c.properties
        if props.receive_maximum is not None:
            self.client_receive_maximum = props.receive_maximum
        if props.maximum_packet_size is not None:
            self.client_maximum_packet_size = props.maximum_packet_size
        if props.topic_alias_maximum is not None:
            self.client_topic_alias_maximum = props.topic_alias_maximum
            if self.limits.outbound_topic_aliases:
                self._out_aliases = OutboundAliases(props.topic_alias_maximum)

    def _receive_publish(self, p: Publish) -> Publish:
        if self.version == MQTT_5:
            p = self._in_aliases.resolve(p)
        self._check_topic(p.topic)
        if p.qos > self.limits.maximum_qos:
            raise PeerError(f"QoS {p.qos} above the maximum QoS {self.limits.maximum_qos} "
                            "[MQTT-3.2.2-11]", mqtt_reason=ReasonCode.QOS_NOT_SUPPORTED)
        if p.retain and not self.limits.retain_available:
            raise PeerError("retain is not available [MQTT-3.2.2-14]",
                            mqtt_reason=ReasonCode.RETAIN_NOT_SUPPORTED)
        if p.qos and p.packet_id not in self._inbound_unacked:
            # A resent QoS 2 id is already counted; the session decides if it is a dup.
            if len(self._inbound_unacked) >= self.limits.receive_maximum:
                raise ReceiveMaximumExceeded(
                    f"more than {self.limits.receive_maximum} unacknowledged QoS>0 PUBLISHes "
                    "[MQTT 5.0 §3.3.4]")
            assert p.packet_id is not None
            self._inbound_unacked.add(p.packet_id)
        return p

    def _check_topic(self, topic: str) -> None:
        validate_topic_name(topic, max_bytes=self.limits.max_topic_bytes,
                            max_levels=self.limits.max_topic_levels)

    def _fail(self, exc: PeerError) -> None:
        self.state = ConnectionState.ERROR
        self.error = exc
        self.error_reason_hint = exc.mqtt_reason

    # -- sending -------------------------------------------------------------------

    def send(self, packet: Packet) -> bytes:
        """The bytes for ``packet``, updating the state; b"" if nothing must be written."""
        if self.state in (ConnectionState.ERROR, ConnectionState.CLOSED):
            raise UsageError(f"cannot send {type(packet).__name__} in state {self.state.name}")
        version = self.version
        if version is None or self.connect is None:
            raise UsageError("nothing can be sent before CONNECT is received")
        if self.state is ConnectionState.CONNECTING and not isinstance(packet, Connack):
            raise UsageError(f"{type(packet).__name__} before CONNACK [MQTT-3.2.0-2]")
        match packet:
            case Publish():
                return self._send_publish(packet, version)
            case Connack():
                return self._send_connack(packet, version)
            case Puback() | Pubcomp():
                self._inbound_unacked.discard(packet.packet_id)
            case Pubrec() if packet.reason_code >= 0x80:
                self._inbound_unacked.discard(packet.packet_id)
            case Disconnect():
                self.state = ConnectionState.CLOSED
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
            self.state = ConnectionState.CLOSED  # the server closes after [MQTT-3.2.2-7]
            return encode(c, version)
        lim = self.limits
        props = c.properties
        # Announce our limits unless the broker already did [MQTT 5.0 §3.2.2.3]
        extra: dict[str, object] = {}
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
        self.state = ConnectionState.CONNECTED
        return encode(c, version)

    def _send_publish(self, p: Publish, version: int) -> bytes:
        if p.qos:
            if p.packet_id is None:
                raise UsageError("QoS>0 PUBLISH needs a packet id; use allocate_packet_id()")
            self._outbound_inflight.add(p.packet_id)
        if version == MQTT_5:
            p = self._out_aliases.apply(p)
        data = encode(p, version)
        if len(data) > self.client_maximum_packet_size:
            # Discard it as if it was delivered [MQTT-3.1.2-25]
            self.dropped_oversize += 1
            if p.packet_id is not None:
                self._outbound_inflight.discard(p.packet_id)
            return b""
        return data

    # -- the outbound quota --------------------------------------------------------

    def can_send_qos(self) -> bool:
        """True while the client's Receive Maximum allows one more QoS 1/2 PUBLISH."""
        return len(self._outbound_inflight) < self.client_receive_maximum

    def allocate_packet_id(self) -> int:
        """A free packet id (1..65535), counted in flight until the client acknowledges it.

        Raises ``UsageError`` when the quota is used up: check ``can_send_qos`` first.
        """
        if not self.can_send_qos() or len(self._outbound_inflight) >= 65_535:
            raise UsageError("no outbound QoS quota left; check can_send_qos() first")
        pid = self._next_id
        while pid in self._outbound_inflight:
            pid = pid % 65_535 + 1
        self._next_id = pid % 65_535 + 1
        self._outbound_inflight.add(pid)
        return pid

    def claim_packet_id(self, packet_id: int) -> None:
        """Count a packet id chosen elsewhere (a session's redelivery) as in flight."""
        self._outbound_inflight.add(packet_id)

    def release_packet_id(self, packet_id: int) -> None:
        """Give back an id the broker will not use (e.g. a message it dropped)."""
        self._outbound_inflight.discard(packet_id)

    # -- ending --------------------------------------------------------------------

    def goodbye(self) -> bytes:
        """After an error: what to write before closing (CONNACK, DISCONNECT or b"").

        Before CONNACK a v5 client gets CONNACK with the reason [MQTT 5.0 §3.2.2.2], a
        3.1.1 client a CONNACK only when a 3.1.1 return code says it (e.g. 1 for an
        unsupported protocol level [MQTT-3.1.2-2]); after CONNACK a v5 client gets
        DISCONNECT with the reason [MQTT-4.13.2-1], a 3.1.1 client nothing.
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
        if level >= MQTT_5:
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
