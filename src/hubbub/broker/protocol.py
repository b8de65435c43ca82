"""The per-connection ``asyncio.Protocol``: the thin shell around ``ServerConnection``.

Bytes go into the sans-IO ``hubbub.mqtt.connection.ServerConnection`` (decoding, the
first-packet and second-CONNECT rules, topic aliases, topic and payload checks, Receive
Maximum, the error reason hint); the validated packets it gives back are handled here
strictly in the order they arrive [MQTT-4.6.0]. What outlives a connection (packet ids'
messages, QoS 2 state, the queue) is the session's. The only awaits are the CONNECT's
authentication (reading is paused and the connection holds back later bytes undecoded)
and observers of a QoS>0 publish, whose acknowledgements are chained so they still leave
in arrival order [MQTT-4.6.0-2, 4.6.0-3] without holding up the packets behind them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections import deque
from collections.abc import Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hubbub.broker.hooks import ALLOW_ALL, Authorizer, Identity
from hubbub.broker.lifecycle import DisconnectReason
from hubbub.broker.limits import TokenBucket
from hubbub.broker.message import Message
from hubbub.broker.sessions import Outgoing, Session
from hubbub.errors import PeerError, ProtocolError
from hubbub.mqtt.codec import PublishTemplate, publish_template
from hubbub.mqtt.connection import (
    CLOSED,
    CONNECTED,
    CONNECTING,
    ERROR,
    ConnectionLimits,
    ConnectionState,
    ServerConnection,
)
from hubbub.mqtt.packets import (
    EMPTY_PROPERTIES,
    MQTT_5,
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
    Subscribe,
    Unsubscribe,
)
from hubbub.transport.websocket import binary_frame

if TYPE_CHECKING:
    from hubbub.broker.broker import Broker
    from hubbub.broker.settings import BrokerSettings

log = logging.getLogger("hubbub.broker")
R = DisconnectReason
#: Chunks a connection holds while corked before writing them anyway.
_MAX_HELD = 64
# The connection's states, for the broker's modules (NEW is CONNECTING before CONNECT).
__all__ = ["CLOSED", "CONNECTED", "CONNECTING", "ERROR", "MqttProtocol", "connection_limits"]


@functools.lru_cache(maxsize=8)
def connection_limits(s: BrokerSettings) -> ConnectionLimits:
    """What every connection of a broker with settings ``s`` accepts and announces."""
    return ConnectionLimits(
        max_packet_size=s.max_packet_bytes, receive_maximum=s.receive_maximum,
        topic_alias_maximum=s.topic_alias_maximum, maximum_qos=s.max_qos,
        retain_available=s.retain_available, max_topic_bytes=s.max_topic_bytes,
        max_topic_levels=s.max_topic_levels, max_payload_size=s.max_payload_bytes,
        max_inflight=s.max_inflight, keep_alive_grace=s.keepalive_grace)


class _Ack:
    """One pending acknowledgement in the per-connection chain."""

    __slots__ = ("packet", "pending", "failed")

    def __init__(self, packet: Puback | Pubrec, pending: int) -> None:
        self.packet = packet
        self.pending = pending
        self.failed = False


class MqttProtocol(asyncio.Protocol):
    """One client connection. Created by ``Broker.protocol_factory``."""

    # Slots: thousands of these live at once; a per-instance dict would double their size.
    __slots__ = ("broker", "settings", "clock", "transport", "mqtt", "session", "identity",
                 "authorizer", "filter_receive", "peer_ip", "transport_kind", "is_ws",
                 "expires_at", "opened_at", "last_rx", "bucket", "will",
                 "will_delay", "close_reason", "clean_disconnect", "_acks", "_pending",
                 "__weakref__")

    #: MQTT is a byte stream: a WebSocket transport may join the frames of one read
    #: [MQTT-6.0.0-2] (hubbub.transport.websocket).
    byte_stream = True

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        s = self.settings = broker.settings
        self.clock = broker.clock
        self.transport: Any = None
        # Bytes after CONNECT stay undecoded until the authenticator has answered.
        self.mqtt = ServerConnection(connection_limits(s), hold_after_connect=True)
        self.session: Session | None = None
        self.identity: Identity | None = None
        self.authorizer: Authorizer = ALLOW_ALL
        self.filter_receive = False  # True when can_receive must be asked per message
        self.peer_ip = ""
        self.transport_kind = "tcp"
        self.is_ws = False
        self.expires_at: float | None = None
        self.opened_at = self.last_rx = self.clock()
        self.bucket = (TokenBucket(s.publish_rate, s.publish_burst, self.clock)
                       if s.publish_rate > 0 else None)
        self.will: Message | None = None
        self.will_delay = 0
        self.close_reason: DisconnectReason = R.CONNECTION_LOST
        self.clean_disconnect = False
        self._acks: deque[_Ack] | None = None  # created on the first delayed ack
        self._pending: list[bytes] | None = None  # output held while the broker is corked

    @property
    def state(self) -> ConnectionState:
        """The connection's state: the one state machine is ``self.mqtt``'s."""
        return self.mqtt.state

    @property
    def version(self) -> int:
        return self.mqtt.version or MQTT_5  # MQTT_5 until CONNECT says otherwise

    # --- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer_ip = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        kind = transport.get_extra_info("transport_kind")
        self.is_ws = kind == "ws"
        self.transport_kind = "ws" if self.is_ws else "tcp"
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Small MQTT packets must not wait for Nagle's algorithm.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.broker.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        self.last_rx = self.clock()
        mqtt = self.mqtt
        state = mqtt.state
        if state is CLOSED or state is ERROR:
            return
        broker = self.broker
        if not broker.corked:
            broker.cork()
        mqtt.feed(data)
        self.process()

    def eof_received(self) -> bool | None:
        return None  # half-closed socket: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.mqtt.close()
        self._acks = None
        self._pending = None
        self.broker.connection_closed(self)

    # --- packet handling -------------------------------------------------------------

    def process(self) -> None:
        """Handle every complete packet in order; the connection returns None while
        CONNECT is authenticated and once it is closed."""
        mqtt = self.mqtt
        while True:
            try:
                packet = mqtt.next_packet()
                if packet is None:
                    return
                self.handle(packet)
                if mqtt.state is ERROR:
                    # Already answered and closed (a CONNECT the broker refused): asking
                    # again would raise the same fault and answer it twice.
                    return
            except PeerError as exc:
                self.peer_error(exc)
                return
            except Exception:
                # Our bug, not the client's: log it, drop this client, keep serving others.
                log.exception("error handling a packet from %s", self.peer_ip)
                self.disconnect(0x80, R.SERVER_ERROR)
                return

    def handle(self, packet: Packet) -> None:
        if type(packet) is Puback:  # one per QoS 1 delivery: before the match's tests
            self.on_ack(packet.packet_id)
            return
        match packet:
            case Publish():
                self.on_publish(packet)
            case Puback(packet_id=pid):
                self.on_ack(pid)
            case Pubrec(packet_id=pid, reason_code=rc):
                self.on_pubrec(pid, rc)
            case Pubrel(packet_id=pid):
                self.on_pubrel(pid)
            case Pubcomp(packet_id=pid):
                self.on_ack(pid)
            case Subscribe():
                self.broker.subscribe(self, packet)
            case Unsubscribe():
                self.broker.unsubscribe(self, packet)
            case Pingreq():
                self.send(Pingresp())
            case Disconnect():
                self.on_disconnect(packet)
            case Connect():  # the first packet; the connection refuses a second one
                # Reading pauses only if the authenticator really waits (admission).
                self.broker.start_connect(self, packet)
            case _:
                # AUTH: enhanced authentication is refused at CONNECT (0x8C).
                raise ProtocolError(f"unexpected {type(packet).__name__} from a client")

    def connect_done(self) -> None:
        """Called by the broker once CONNACK (success) is written after the authenticator
        waited: reading resumes with the bytes held back meanwhile."""
        self.transport.resume_reading()
        self.process()

    def on_publish(self, p: Publish) -> None:
        msg = self.broker.check_publish(self, p)
        if msg is None:
            return
        qos = p.qos
        session = self.session
        assert session is not None
        if qos == 2 and session.inbound_qos2 and p.packet_id in session.inbound_qos2:
            # A resent QoS 2 PUBLISH we already own: acknowledge, do not route again
            # [MQTT-4.3.3-10 .. 4.3.3-11].
            self.queue_ack(Pubrec(p.packet_id or 0), [])
            return
        if not self.broker.authorize_publish(self, msg.topic, msg.retain):
            if qos and self.version == MQTT_5 and self.state is CONNECTED:
                ack = Puback if qos == 1 else Pubrec
                self.queue_ack(ack(p.packet_id or 0, 0x87), [])
            elif qos and self.state is CONNECTED:
                # MQTT 3.1.1 cannot refuse a publish; closing is the only honest answer.
                self.disconnect(0x87, R.AUTH_ERROR, "not authorized")
            return
        awaitables = self.broker.accept(msg, session, self.identity)
        if qos == 1:
            self.queue_ack(Puback(p.packet_id or 0), awaitables)
        elif qos == 2:
            session.qos2_ids().add(p.packet_id or 0)
            self.queue_ack(Pubrec(p.packet_id or 0), awaitables)
        elif awaitables:
            self.broker.consume(awaitables)  # QoS 0: nobody waits, but they must run

    def queue_ack(self, packet: Puback | Pubrec, awaitables: list[Awaitable[None]]) -> None:
        """Send ``packet`` once every awaitable is done, after every earlier ack."""
        if not awaitables and not self._acks:
            self._write_ack(packet, failed=False)
            return
        slot = _Ack(packet, len(awaitables))
        if self._acks is None:
            self._acks = deque()
        self._acks.append(slot)
        for aw in awaitables:
            fut = asyncio.ensure_future(aw)
            self.broker.track(fut)
            fut.add_done_callback(functools.partial(self._observer_done, slot))

    def _observer_done(self, slot: _Ack, fut: asyncio.Future[None]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            slot.failed = True
            self.broker.counters["observer_errors"] += 1
            log.error("observer failed; %s not acknowledged as success", slot.packet,
                      exc_info=None if fut.cancelled() else fut.exception())
        slot.pending -= 1
        acks = self._acks
        while acks and acks[0].pending <= 0:
            head = acks.popleft()
            self._write_ack(head.packet, head.failed)

    def _write_ack(self, packet: Puback | Pubrec, failed: bool) -> None:
        # Sent through the connection, which ends the Receive Maximum count of a QoS 1
        # exchange here (QoS 2: at PUBCOMP, or here on failure).
        if self.mqtt.closed:
            return
        if failed:
            # An observer (e.g. the durable history) failed: the message is not safe.
            # v5 says so with 0x80; 3.1.1 cannot, so the connection closes and the
            # client sends it again on reconnect [MQTT-4.4.0-1].
            if self.version == MQTT_5:
                packet = replace(packet, reason_code=0x80)
                if isinstance(packet, Pubrec) and self.session is not None:
                    # The QoS 2 exchange ends here; the id is free for a new message.
                    self.session.qos2_ids().discard(packet.packet_id)
            else:
                self.disconnect(0x80, R.SERVER_ERROR)
                return
        self.send(packet)

    def on_pubrel(self, pid: int) -> None:
        assert self.session is not None
        ids = self.session.qos2_ids()
        found = pid in ids
        ids.discard(pid)
        self.send(Pubcomp(pid, 0 if found or self.version != MQTT_5 else 0x92))

    def on_pubrec(self, pid: int, reason: int) -> None:
        session = self.session
        assert session is not None
        out = session.inflight.get(pid)
        if out is None:
            self.send(Pubrel(pid, 0x92 if self.version == MQTT_5 else 0))
            return
        if reason >= 0x80:
            # The client refused it: the exchange ends here [MQTT-4.3.3-4 note].
            self.on_ack(pid)
            return
        out.released = True
        self.send(Pubrel(pid))

    def on_ack(self, pid: int) -> None:
        session = self.session
        assert session is not None
        if session.inflight.pop(pid, None) is not None and session.queue:
            self.pump()

    def on_disconnect(self, p: Disconnect) -> None:
        assert self.session is not None
        interval = p.properties.session_expiry_interval
        if interval is not None:  # 0 -> non-zero was refused by the connection
            self.session.expiry_interval = min(interval, self.settings.max_session_expiry)
        # Normal disconnection discards the will; 0x04 asks for it [MQTT-3.14.4-3].
        self.clean_disconnect = p.reason_code != 0x04
        self.close_reason = R.CLIENT_INITIATED_DISCONNECT
        self.flush()
        self.transport.close()
        self.broker.connection_closed(self)

    # --- delivery (called by the broker's fan-out) ---------------------------------------

    def publish_props(self, msg: Message, ids: tuple[int, ...], now: float) -> Properties:
        props = msg.properties
        if msg.properties.message_expiry_interval is not None:
            props = replace(props, message_expiry_interval=msg.remaining_expiry(now))
        if ids:
            props = replace(props, subscription_identifiers=ids)
        return props

    def deliver(self, out: Outgoing, cache: dict[Any, PublishTemplate] | None = None) -> None:
        """A QoS 1/2 message: into the inflight window if there is room, else queued.

        ``cache`` (one per fan-out) shares one encoding per shape among subscribers; only
        the packet identifier is stamped per subscriber.
        """
        session = self.session
        assert session is not None
        mqtt = self.mqtt
        if not session.queue and mqtt.can_send_qos():
            self._send_inflight(session, out, mqtt.allocate_packet_id(), False, cache)
        elif not session.enqueue(out):
            # Slow consumer: its queue is full. Disconnect it rather than grow
            # without bound or slow the publishers [docs/broker.md].
            self.broker.stats_slow_consumer()
            self.disconnect(0x97, R.THROTTLED, "queue full", abort=True)

    def _send_inflight(self, session: Session, out: Outgoing, pid: int, dup: bool,
                       cache: dict[Any, PublishTemplate] | None = None) -> None:
        session.inflight[pid] = out
        msg = out.msg
        mqtt = self.mqtt
        version = mqtt.version or MQTT_5
        key = (version, out.qos, out.retain, out.identifiers)
        tpl = cache.get(key) if cache is not None else None
        if tpl is None:
            props = (self.publish_props(msg, out.identifiers, self.clock())
                     if version == MQTT_5 else EMPTY_PROPERTIES)
            tpl = publish_template(msg.topic, msg.payload, out.qos, out.retain, props, version)
            if cache is not None:
                cache[key] = tpl
        data = mqtt.send_publish_bytes(tpl.with_packet_id(pid, dup), pid)
        if not data:  # too big for the client: discarded as if delivered
            del session.inflight[pid]
            self.broker.stats_dropped(1)
            return
        if mqtt.state is CONNECTED:  # write(), without two calls per delivery
            self.put(binary_frame(data) if self.is_ws else data)

    def pump(self) -> None:
        """Move queued messages into the inflight window as acknowledgements free it."""
        session = self.session
        mqtt = self.mqtt
        if session is None or mqtt.state is not CONNECTED:
            return
        now = self.clock()
        queue = session.queue
        while queue and mqtt.can_send_qos():
            out = queue.popleft()
            if out.msg.expired(now):
                continue  # [MQTT-3.3.2-5]
            self._send_inflight(session, out, mqtt.allocate_packet_id(), dup=False)

    def resend_inflight(self) -> None:
        """On session resumption, resend unacknowledged PUBLISH (DUP) and PUBREL in order
        [MQTT-4.4.0-1]; the session's packet ids are the new connection's in flight."""
        session = self.session
        assert session is not None
        for pid in session.inflight:
            self.mqtt.claim_packet_id(pid)
        for pid, out in list(session.inflight.items()):
            if out.released:
                self.send(Pubrel(pid))
            else:
                self._send_inflight(session, out, pid, dup=True)
        self.pump()

    # --- output ------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write a PUBLISH: only once CONNACK is sent, until the connection ends."""
        if self.mqtt.state is CONNECTED:
            self.write_packet(data)

    def send(self, packet: Packet) -> None:
        mqtt = self.mqtt
        if mqtt.closed:
            return
        data = mqtt.send(packet)  # may close it (DISCONNECT): write regardless
        if data:
            self.write_packet(data)

    def write_packet(self, data: bytes) -> None:
        """Write one encoded packet (over WebSocket, as one binary frame)."""
        self.put(binary_frame(data) if self.is_ws else data)

    def put(self, chunk: bytes) -> None:
        """Write ``chunk`` as the transport takes it (over WebSocket: a whole frame), or
        hold it until the broker uncorks, in order with everything else this connection
        writes; a long backlog goes out at once, so holding never hides a slow reader.

        Every MQTT packet keeps a frame of its own over WebSocket although MQTT allows
        several in one [MQTT-6.0.0-2]: clients that assume one packet per message exist
        (one of our own tests did), and one frame per flush measured no faster here.
        """
        pending = self._pending
        if pending is not None:
            pending.append(chunk)
            if len(pending) >= _MAX_HELD:
                self.flush()
        elif self.broker.corked:
            self._pending = [chunk]
            self.broker.dirty.append(self)
        elif self.is_ws:
            self.transport.write_frame(chunk)
        else:
            self.transport.write(chunk)

    def flush(self) -> None:
        """Write what ``put`` held (before closing, and when the broker uncorks)."""
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        data = b"".join(pending) if len(pending) > 1 else pending[0]
        if self.is_ws:
            self.transport.write_frame(data)
        else:
            self.transport.write(data)

    def disconnect(self, reason: int, lifecycle: DisconnectReason, message: str | None = None,
                   abort: bool = False) -> None:
        """Server-initiated close: MQTT 5 DISCONNECT with ``reason`` (3.1.1: none), close."""
        if self.mqtt.closed:
            return
        self.close_reason = lifecycle
        if self.mqtt.state is CONNECTED:
            props = Properties(reason_string=message) if message else EMPTY_PROPERTIES
            try:
                self.send(Disconnect(reason, props))
            except Exception:  # never let a failed courtesy packet keep the socket open
                log.exception("could not encode DISCONNECT")
        self._close(reason, abort)

    def _close(self, reason: int, abort: bool = False) -> None:
        self.mqtt.close()
        if not abort:
            self.flush()
        if abort or self.transport.get_write_buffer_size():
            self.transport.abort()  # a peer that does not read must not hold the socket
        else:
            self.close_transport(reason)
        self.broker.connection_closed(self)

    def close_transport(self, reason: int) -> None:
        """Close the transport; over WebSocket an authorization refusal (0x86, 0x87) closes
        with 1008 "policy violation" (RFC 6455 §7.4.1, docs/security.md)."""
        self.flush()
        if self.is_ws and reason in (0x86, 0x87):
            self.transport.close_with(1008, "not authorized")
        else:
            self.transport.close()

    def abort(self, lifecycle: DisconnectReason) -> None:
        self.close_reason = lifecycle
        self.mqtt.close()
        self._pending = None
        self.transport.abort()
        self.broker.connection_closed(self)

    def peer_error(self, exc: PeerError) -> None:
        """The client sent something we refuse: answer as the connection says, close."""
        log.info("client %s (%s): %s", self.session.client_id if self.session else "?",
                 self.peer_ip, exc)
        mqtt = self.mqtt
        if mqtt.state is CLOSED:
            return
        mqtt.fail(exc)  # a rule of the broker's own; the connection's are already ERROR
        if not mqtt.connack_sent:
            self.broker.refuse_connect(self, exc)
            return
        self.close_reason = R.CLIENT_ERROR
        data = mqtt.goodbye()
        if data:
            self.write_packet(data)
        self._close(exc.mqtt_reason)
