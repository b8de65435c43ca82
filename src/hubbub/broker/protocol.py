"""The per-connection ``asyncio.Protocol``: bytes in, packets handled in order, bytes out.

One class serves TCP and WebSocket (the WebSocket transport delivers whole binary
messages' bytes and takes ``write``/``write_frame``). Packets are handled strictly in
the order they arrive [MQTT-4.6.0]; the only awaits are the CONNECT's authentication
(reading is paused and later packets wait in the decoder) and observers of a QoS>0
publish, whose acknowledgements are chained so they still leave in arrival order
[MQTT-4.6.0-2, 4.6.0-3] without holding up the packets behind them.
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
from hubbub.mqtt.codec import PublishTemplate, encode, publish_template
from hubbub.mqtt.decoder import Decoder
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

if TYPE_CHECKING:
    from hubbub.broker.broker import Broker

log = logging.getLogger("hubbub.broker")

NEW, CONNECTING, CONNECTED, CLOSED = range(4)
R = DisconnectReason


class _Ack:
    """One pending acknowledgement in the per-connection chain."""

    __slots__ = ("packet", "pending", "failed", "qos")

    def __init__(self, packet: Puback | Pubrec, pending: int, qos: int) -> None:
        self.packet = packet
        self.pending = pending
        self.failed = False
        self.qos = qos


class MqttProtocol(asyncio.Protocol):
    """One client connection. Created by ``Broker.protocol_factory``."""

    # Slots: thousands of these live at once; a per-instance dict would double their size.
    __slots__ = ("broker", "settings", "clock", "transport", "state", "version", "session",
                 "identity", "authorizer", "filter_receive", "peer_ip", "transport_kind",
                 "is_ws", "keepalive", "expires_at", "opened_at", "last_rx", "reader",
                 "bucket", "send_quota", "client_max_packet", "aliases", "inbound_unacked",
                 "will", "will_delay", "close_reason", "clean_disconnect", "_acks",
                 "__weakref__")

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        s = self.settings = broker.settings
        self.clock = broker.clock
        self.transport: Any = None
        self.state = NEW
        self.version = MQTT_5  # until CONNECT says otherwise (only used for errors)
        self.session: Session | None = None
        self.identity: Identity | None = None
        self.authorizer: Authorizer = ALLOW_ALL
        self.filter_receive = False  # True when can_receive must be asked per message
        self.peer_ip = ""
        self.transport_kind = "tcp"
        self.is_ws = False
        self.keepalive = 0
        self.expires_at: float | None = None
        self.opened_at = self.last_rx = self.clock()
        self.reader = Decoder(s.max_packet_bytes)
        self.bucket = (TokenBucket(s.publish_rate, s.publish_burst, self.clock)
                       if s.publish_rate > 0 else None)
        self.send_quota = s.max_inflight  # min(ours, client's Receive Maximum)
        self.client_max_packet: int | None = None
        self.aliases: dict[int, str] = {}
        self.inbound_unacked = 0
        self.will: Message | None = None
        self.will_delay = 0
        self.close_reason: DisconnectReason = R.CONNECTION_LOST
        self.clean_disconnect = False
        self._acks: deque[_Ack] | None = None  # created on the first delayed ack

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
        if self.state == CLOSED:
            return
        try:
            self.reader.feed(data)
        except PeerError as exc:
            self.peer_error(exc)
            return
        self.process()

    def eof_received(self) -> bool | None:
        return None  # half-closed socket: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = CLOSED
        self._acks = None
        self.broker.connection_closed(self)

    # --- packet handling -------------------------------------------------------------

    def process(self) -> None:
        """Handle every complete packet in order; stop while CONNECT is authenticated."""
        while self.state in (NEW, CONNECTED):
            try:
                packet = self.reader.next_packet()
                if packet is None:
                    return
                self.handle(packet)
            except PeerError as exc:
                self.peer_error(exc)
                return
            except Exception:
                # Our bug, not the client's: log it, drop this client, keep serving others.
                log.exception("error handling a packet from %s", self.peer_ip)
                self.disconnect(0x80, R.SERVER_ERROR)
                return

    def handle(self, packet: Packet) -> None:
        if self.state == NEW:
            if not isinstance(packet, Connect):
                # The first packet must be CONNECT [MQTT-3.1.0-1]: close without answer.
                self.abort(R.CLIENT_ERROR)
                return
            self.version = packet.protocol_level
            self.state = CONNECTING
            self.transport.pause_reading()
            self.broker.start_connect(self, packet)
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
            case Connect():
                raise ProtocolError("second CONNECT [MQTT-3.1.0-2]")
            case _:
                raise ProtocolError(f"unexpected {type(packet).__name__} from a client")

    def connect_done(self) -> None:
        """Called by the broker once CONNACK (success) is written."""
        self.state = CONNECTED
        self.transport.resume_reading()
        self.process()

    def on_publish(self, p: Publish) -> None:
        msg = self.broker.check_publish(self, p)
        if msg is None:
            return
        qos = p.qos
        session = self.session
        assert session is not None
        if qos == 2 and p.packet_id in session.inbound_qos2:
            # A resent QoS 2 PUBLISH we already own: acknowledge, do not route again
            # [MQTT-4.3.3-10 .. 4.3.3-11].
            self.inbound_unacked -= 1  # counted when it first came
            self.queue_ack(Pubrec(p.packet_id or 0), [], qos)
            return
        if not self.broker.authorize_publish(self, msg.topic, msg.retain):
            if qos and self.version == MQTT_5 and self.state == CONNECTED:
                ack = Puback if qos == 1 else Pubrec
                self.queue_ack(ack(p.packet_id or 0, 0x87), [], qos)
            elif qos and self.state == CONNECTED:
                # MQTT 3.1.1 cannot refuse a publish; closing is the only honest answer.
                self.disconnect(0x87, R.AUTH_ERROR, "not authorized")
            return
        awaitables = self.broker.accept(msg, session, self.identity)
        if qos == 1:
            self.queue_ack(Puback(p.packet_id or 0), awaitables, qos)
        elif qos == 2:
            session.inbound_qos2.add(p.packet_id or 0)
            self.queue_ack(Pubrec(p.packet_id or 0), awaitables, qos)
        elif awaitables:
            self.broker.consume(awaitables)  # QoS 0: nobody waits, but they must run

    def check_inbound_quota(self, qos: int) -> None:
        if qos:
            self.inbound_unacked += 1
            if self.version == MQTT_5 and self.inbound_unacked > self.settings.receive_maximum:
                raise ProtocolError("Receive Maximum exceeded [MQTT-3.3.4-9]",
                                    mqtt_reason=0x93)

    def queue_ack(self, packet: Puback | Pubrec, awaitables: list[Awaitable[None]],
                  qos: int) -> None:
        """Send ``packet`` once every awaitable is done, after every earlier ack."""
        if not awaitables and not self._acks:
            self._write_ack(packet, qos, failed=False)
            return
        slot = _Ack(packet, len(awaitables), qos)
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
            self._write_ack(head.packet, head.qos, head.failed)

    def _write_ack(self, packet: Puback | Pubrec, qos: int, failed: bool) -> None:
        if qos == 1 or packet.reason_code >= 0x80:
            self.inbound_unacked -= 1  # a QoS 2 exchange ends at PUBCOMP, or here on failure
        if self.state == CLOSED:
            return
        if failed:
            # An observer (e.g. the durable history) failed: the message is not safe.
            # v5 says so with 0x80; 3.1.1 cannot, so the connection closes and the
            # client sends it again on reconnect [MQTT-4.4.0-1].
            if self.version == MQTT_5:
                packet = replace(packet, reason_code=0x80)
                if isinstance(packet, Pubrec) and self.session is not None:
                    # The QoS 2 exchange ends here; the id is free for a new message.
                    self.session.inbound_qos2.discard(packet.packet_id)
            else:
                self.disconnect(0x80, R.SERVER_ERROR)
                return
        self.send(packet)

    def on_pubrel(self, pid: int) -> None:
        assert self.session is not None
        found = pid in self.session.inbound_qos2
        self.session.inbound_qos2.discard(pid)
        self.inbound_unacked = max(0, self.inbound_unacked - 1)
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
        if interval is not None:
            if self.session.expiry_interval == 0 and interval > 0:
                raise ProtocolError("Session Expiry Interval set on DISCONNECT after 0 "
                                    "[MQTT-3.14.2-2]")
            self.session.expiry_interval = min(interval, self.settings.max_session_expiry)
        # Normal disconnection discards the will; 0x04 asks for it [MQTT-3.14.4-3].
        self.clean_disconnect = p.reason_code != 0x04
        self.close_reason = R.CLIENT_INITIATED_DISCONNECT
        self.state = CLOSED
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
        if not session.queue and len(session.inflight) < self.send_quota:
            self._send_inflight(session, out, session.allocate_pid(), False, cache)
        elif not session.enqueue(out):
            # Slow consumer: its queue is full. Disconnect it rather than grow
            # without bound or slow the publishers [docs/broker.md].
            self.broker.stats_slow_consumer()
            self.disconnect(0x97, R.THROTTLED, "queue full", abort=True)

    def _send_inflight(self, session: Session, out: Outgoing, pid: int, dup: bool,
                       cache: dict[Any, PublishTemplate] | None = None) -> None:
        session.inflight[pid] = out
        msg = out.msg
        key = (self.version, out.qos, out.retain, out.identifiers)
        tpl = cache.get(key) if cache is not None else None
        if tpl is None:
            props = (self.publish_props(msg, out.identifiers, self.clock())
                     if self.version == MQTT_5 else EMPTY_PROPERTIES)
            tpl = publish_template(msg.topic, msg.payload, out.qos, out.retain, props,
                                   self.version)
            if cache is not None:
                cache[key] = tpl
        data = tpl.with_packet_id(pid, dup)
        if self.client_max_packet is not None and len(data) > self.client_max_packet:
            # Too big for the client: discard as if delivered [MQTT-3.1.2-25].
            del session.inflight[pid]
            self.broker.stats_dropped(1)
            return
        self.write(data)

    def pump(self) -> None:
        """Move queued messages into the inflight window as acknowledgements free it."""
        session = self.session
        if session is None or self.state != CONNECTED:
            return
        now = self.clock()
        queue = session.queue
        while queue and len(session.inflight) < self.send_quota:
            out = queue.popleft()
            if out.msg.expired(now):
                continue  # [MQTT-3.3.2-5]
            self._send_inflight(session, out, session.allocate_pid(), dup=False)

    def resend_inflight(self) -> None:
        """On session resumption, resend unacknowledged PUBLISH (DUP) and PUBREL in order
        [MQTT-4.4.0-1]."""
        session = self.session
        assert session is not None
        for pid, out in list(session.inflight.items()):
            if out.released:
                self.send(Pubrel(pid))
            else:
                self._send_inflight(session, out, pid, dup=True)
        self.pump()

    # --- output ------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.state != CLOSED:
            self.transport.write(data)

    def send(self, packet: Packet) -> None:
        self.write(encode(packet, self.version))

    def disconnect(self, reason: int, lifecycle: DisconnectReason, message: str | None = None,
                   abort: bool = False) -> None:
        """Server-initiated close: MQTT 5 DISCONNECT with ``reason``, then close."""
        if self.state == CLOSED:
            return
        self.close_reason = lifecycle
        if self.version == MQTT_5 and self.state == CONNECTED:
            props = Properties(reason_string=message) if message else EMPTY_PROPERTIES
            try:
                self.send(Disconnect(reason, props))
            except Exception:  # never let a failed courtesy packet keep the socket open
                log.exception("could not encode DISCONNECT")
        self.state = CLOSED
        if abort or self.transport.get_write_buffer_size():
            self.transport.abort()  # a peer that does not read must not hold the socket
        else:
            self.close_transport(reason)
        self.broker.connection_closed(self)

    def close_transport(self, reason: int) -> None:
        """Close the transport; over WebSocket an authorization refusal (0x86, 0x87) closes
        with 1008 "policy violation" (RFC 6455 §7.4.1, docs/security.md)."""
        if self.is_ws and reason in (0x86, 0x87):
            self.transport.close_with(1008, "not authorized")
        else:
            self.transport.close()

    def abort(self, lifecycle: DisconnectReason) -> None:
        self.close_reason = lifecycle
        self.state = CLOSED
        self.transport.abort()
        self.broker.connection_closed(self)

    def peer_error(self, exc: PeerError) -> None:
        """The client sent something we refuse: answer as the spec says, then close."""
        log.info("client %s (%s): %s", self.session.client_id if self.session else "?",
                 self.peer_ip, exc)
        if self.state in (NEW, CONNECTING):
            self.broker.refuse_connect(self, exc)
            return
        self.disconnect(exc.mqtt_reason, R.CLIENT_ERROR, str(exc)[:200])
