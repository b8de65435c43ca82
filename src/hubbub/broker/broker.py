"""The Broker: sessions, routing, retained messages, observers, lifecycle, shutdown.

Message flow: a connection's PUBLISH is checked (limits, topic, authorization), stored if
retained, fanned out to matching sessions (one encoding per shape, same bytes written to
every subscriber), then shown to observers; the QoS 1 PUBACK waits for the observers
(see protocol.MqttProtocol.queue_ack). CONNECT handling lives in admission.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from hubbub.broker import admission, subscriptions
from hubbub.broker.hooks import (
    BACKEND,
    Authenticator,
    Identity,
    PublishObserver,
    ViolationHook,
    may_retain,
)
from hubbub.broker.lifecycle import RESERVED_PREFIX, DisconnectReason
from hubbub.broker.message import Message
from hubbub.broker.protocol import CLOSED, CONNECTED, CONNECTING, MqttProtocol
from hubbub.broker.retained import RetainedStore
from hubbub.broker.router import Router
from hubbub.broker.sessions import Outgoing, Session, SessionStore
from hubbub.broker.settings import BrokerSettings
from hubbub.broker.storage import BrokerStore
from hubbub.errors import PeerError, UsageError
from hubbub.mqtt.codec import PublishTemplate, encode_publish
from hubbub.mqtt.packets import (
    EMPTY_PROPERTIES,
    MQTT_5,
    Connect,
    Properties,
    Publish,
    Subscribe,
    Unsubscribe,
)
from hubbub.mqtt.topics import TopicError, validate_topic_name
from hubbub.transport.websocket import binary_frame

log = logging.getLogger("hubbub.broker")
R = DisconnectReason


class Broker:
    """An MQTT 3.1.1 / 5.0 broker with IoT Core's topic semantics and limits.

    ``protocol_factory`` makes the per-connection protocol for TCP and WebSocket alike.
    ``clock`` returns wall-clock seconds (lifecycle timestamps, expiry, keep-alive).
    """

    def __init__(self, settings: BrokerSettings | None = None, *,
                 authenticator: Authenticator,
                 observers: Sequence[PublishObserver] = (),
                 clock: Callable[[], float] = time.time,
                 on_violation: ViolationHook | None = None) -> None:
        self.settings = settings or BrokerSettings()
        self.clock = clock
        self.authenticator = authenticator
        self.observers: list[PublishObserver] = list(observers)
        self.on_violation = on_violation
        self.router: Router[Session] = Router()
        self.sessions = SessionStore()
        self.connections: set[MqttProtocol] = set()
        #: client id -> (due, will message, origin, authorizer) for delayed wills
        self.wills: dict[str, tuple[float, Message, Identity | None, Any]] = {}
        #: lifecycle versionNumber per client id
        self.versions: dict[str, int] = {}
        self.accepting = True
        self._tasks: set[asyncio.Future[Any]] = set()
        self._servers: list[asyncio.Server] = []
        self._sweeper: asyncio.Task[None] | None = None
        #: True from the first read of a loop iteration until ``_uncork`` runs (call_soon):
        #: meanwhile connections collect their output and write it once (see MqttProtocol).
        self.corked = False
        self.dirty: list[MqttProtocol] = []
        self.counters: dict[str, int] = dict.fromkeys(
            ("connections_total", "connects_refused", "messages_in", "messages_out",
             "dropped_qos0", "dropped_queue_full", "dropped_too_large",
             "slow_consumer_disconnects", "denied", "observer_errors"), 0)
        self.store: BrokerStore | None = None
        if self.settings.data_dir is not None:
            self.store = BrokerStore(self.settings.data_dir / "broker.sqlite3")
        self.retained = RetainedStore(self.store)
        if self.store is not None:
            self.retained.load(self.store.load_retained())
            self._restore_sessions()

    # --- public API ---------------------------------------------------------------------

    def protocol_factory(self) -> asyncio.Protocol:
        """A new per-connection protocol (give this to TCP and WebSocket listeners)."""
        return MqttProtocol(self)

    def add_observer(self, observer: PublishObserver) -> None:
        self.observers.append(observer)

    async def start(self) -> None:
        """Start the housekeeping sweep (keep-alive, expiry, delayed wills)."""
        if self._sweeper is None and self.settings.sweep_interval > 0:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop())

    async def start_tcp(self, host: str = "0.0.0.0", port: int = 1883) -> int:
        """Listen for MQTT over TCP; returns the bound port (useful with port 0)."""
        from hubbub.transport.tcp import start_tcp_server

        await self.start()
        server = await start_tcp_server(self.protocol_factory, host, port)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def publish(self, topic: str, payload: bytes | str, qos: int = 0,
                      retain: bool = False, properties: Properties | None = None,
                      origin: Identity | None = BACKEND) -> None:
        """Publish from inside the process: routed to subscribers (receive checks apply)
        and shown to observers; returns once every observer is done."""
        try:
            validate_topic_name(topic)
        except TopicError as exc:
            raise UsageError(f"publish to {topic!r}: {exc}") from None
        if qos not in (0, 1, 2):
            raise UsageError(f"QoS {qos}")
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        msg = Message(topic, data, min(qos, self.settings.max_qos), retain,
                      properties or EMPTY_PROPERTIES, self.clock())
        awaitables = self.accept(msg, None, origin)
        if awaitables:
            for res in await asyncio.gather(*awaitables, return_exceptions=True):
                if isinstance(res, BaseException):
                    self.counters["observer_errors"] += 1
                    log.error("observer failed on %s", topic, exc_info=res)

    def route(self, msg: Message) -> None:
        """Deliver an already accepted message to local subscribers only (retained store
        included, observers not called): for messages fanned in from other nodes."""
        if msg.retain:
            self.retained.set(msg)
        self.fan_out(msg, None)

    def is_connected(self, client_id: str) -> bool:
        session = self.sessions.get(client_id)
        return session is not None and session.link is not None

    def disconnect_client(self, client_id: str, reason: int = 0x98,
                          message: str = "administrative action") -> bool:
        """Close ``client_id``'s connection (v5 DISCONNECT ``reason``, default 0x98
        Administrative action; lifecycle SERVER_INITIATED_DISCONNECT). False if offline."""
        session = self.sessions.get(client_id)
        conn: Any = session.link if session is not None else None
        if conn is None:
            return False
        conn.disconnect(reason, R.SERVER_INITIATED_DISCONNECT, message)
        return True

    def stats(self) -> dict[str, int]:
        """Counters and gauges for monitoring."""
        out = dict(self.counters)
        out.update(connections=len(self.connections), sessions=len(self.sessions),
                   subscriptions=len(self.router), retained=len(self.retained),
                   pending_wills=len(self.wills))
        return out

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Stop accepting, tell v5 clients (DISCONNECT 0x8B), persist sessions, close."""
        self.accepting = False
        for server in self._servers:
            server.close()  # 1. no new connections
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self.connections):  # 2. tell every client, close
            if conn.state is CONNECTED:
                conn.disconnect(0x8B, R.SERVER_INITIATED_DISCONNECT, "server shutting down")
            else:
                conn.abort(R.SERVER_INITIATED_DISCONNECT)
        pending = [t for t in self._tasks if not t.done()]
        if pending:  # 3. let observers finish what was accepted (durable history)
            await asyncio.wait(pending, timeout=timeout)
        for server in self._servers:
            try:
                await asyncio.wait_for(server.wait_closed(), timeout)
            except TimeoutError:
                log.warning("listener did not close within %.1fs", timeout)
        self._servers.clear()
        if self.store is not None:  # 4. persist sessions that outlive the process
            self.store.save_sessions([s.to_record() for s in self.sessions
                                      if s.expiry_interval > 0])
            self.store.close()
            self.store = None

    # --- connection bookkeeping ------------------------------------------------------------

    def connection_opened(self, conn: MqttProtocol) -> None:
        if not self.accepting:
            conn.abort(R.SERVER_INITIATED_DISCONNECT)
            return
        self.connections.add(conn)
        self.counters["connections_total"] += 1

    def cork(self) -> None:
        """Hold connections' output until the loop's next iteration (``MqttProtocol.put``).

        Called on every read: a read often carries many PUBLISH packets (or WebSocket
        frames), and each subscriber then gets all its deliveries in one write instead of
        one write (a send() system call) per delivery, like Mosquitto's writes per wakeup.
        """
        if not self.corked:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no event loop (a synchronous caller): writes go out at once
            self.corked = True
            loop.call_soon(self._uncork)

    def _uncork(self) -> None:
        self.corked = False
        dirty, self.dirty = self.dirty, []
        for conn in dirty:
            conn.flush()

    def connection_closed(self, conn: MqttProtocol) -> None:
        self.connections.discard(conn)
        admission.detach(self, conn)

    def start_connect(self, conn: MqttProtocol, packet: Connect) -> None:
        admission.start_connect(self, conn, packet)

    def refuse_connect(self, conn: MqttProtocol, exc: PeerError) -> None:
        admission.refuse(self, conn, exc)

    def track(self, fut: asyncio.Future[Any]) -> None:
        self._tasks.add(fut)
        fut.add_done_callback(self._tasks.discard)

    def stats_slow_consumer(self) -> None:
        self.counters["slow_consumer_disconnects"] += 1

    def stats_dropped(self, n: int) -> None:
        self.counters["dropped_too_large"] += n

    # --- publish path ---------------------------------------------------------------------

    def check_publish(self, conn: MqttProtocol, p: Publish) -> Message | None:
        """The broker's own limit on a client's PUBLISH (the connection checked the rest)."""
        if conn.bucket is not None and not conn.bucket.take():
            conn.disconnect(0x96, R.THROTTLED,
                            f"more than {self.settings.publish_rate:g} publishes/s")
            return None
        props = p.properties
        if props.subscription_identifiers:  # per connection, never part of the message
            props = replace(props, subscription_identifiers=())
        self.counters["messages_in"] += 1
        return Message(p.topic, p.payload, p.qos, p.retain, props, self.clock())

    def authorize_publish(self, conn: MqttProtocol, topic: str, retain: bool = False) -> bool:
        """Lifecycle topics belong to the broker; the rest is the policy's call."""
        if not topic.startswith(RESERVED_PREFIX) and conn.authorizer.can_publish(topic) \
                and (not retain or may_retain(conn.authorizer, topic)):
            return True
        self.violation(conn)
        return False

    def violation(self, conn: MqttProtocol) -> None:
        self.counters["denied"] += 1
        hook = self.on_violation
        if hook is not None and conn.identity is not None and hook(conn.identity):
            conn.disconnect(0x87, R.AUTH_ERROR, "repeated authorization failures")

    def accept(self, msg: Message, publisher: Session | None,
               origin: Identity | None) -> list[Awaitable[None]]:
        """Store (if retained), fan out, and return the observers' pending awaitables."""
        if msg.retain:
            self.retained.set(msg)
        if len(self.router):
            self.fan_out(msg, publisher)
        return self.observe(msg, origin)

    def observe(self, msg: Message, origin: Identity | None) -> list[Awaitable[None]]:
        out: list[Awaitable[None]] = []
        for obs in self.observers:
            try:
                res = obs.on_publish(msg, origin)
            except Exception as exc:
                log.exception("observer %r failed on %s", obs, msg.topic)
                fut = asyncio.get_running_loop().create_future()
                fut.set_exception(exc)
                out.append(fut)
                continue
            if res is not None:
                out.append(res)
        return out

    def consume(self, awaitables: list[Awaitable[None]]) -> None:
        """Run awaitables nobody waits for (QoS 0, lifecycle); log their failures."""
        for aw in awaitables:
            fut = asyncio.ensure_future(aw)
            self.track(fut)
            fut.add_done_callback(self._log_failure)

    def _log_failure(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self.counters["observer_errors"] += 1
            log.error("observer failed", exc_info=fut.exception())

    def fan_out(self, msg: Message, publisher: Session | None) -> None:
        """Deliver to every matching session: the hot path.

        QoS 0 bytes are encoded once per (protocol version, retain flag, subscription
        identifiers) and the same bytes (or WebSocket frame) go to every subscriber.
        Output is corked (held until the loop's next iteration) also when the publish did
        not come from a read (in-process publishes, rules): each subscriber then gets one
        write for everything published to it in this iteration.
        """
        targets = self.router.match(msg.topic, publisher)
        if not targets:
            return
        if not self.corked:
            self.cork()
        now = self.clock()
        cache: dict[Any, bytes] = {}
        templates: dict[Any, PublishTemplate] = {}
        high = self.settings.write_buffer_high
        sent = dropped = 0
        topic, payload, mqos, mretain = msg.topic, msg.payload, msg.qos, msg.retain
        connected = CONNECTED
        cached = cache.get
        for session, grant in targets.items():
            conn: Any = session.link
            qos = grant.qos if grant.qos < mqos else mqos
            retain = mretain and grant.retain_as_published
            if conn is None or (mqtt := conn.mqtt).state is not connected:
                if qos and session.expiry_interval:
                    # Offline persistent session: queue QoS 1/2 [MQTT-3.1.2-5].
                    if not session.enqueue(Outgoing(msg, qos, retain, grant.identifiers)):
                        self.counters["dropped_queue_full"] += 1
                continue
            if conn.filter_receive and not conn.authorizer.can_receive(topic):
                continue
            if qos:
                conn.deliver(Outgoing(msg, qos, retain, grant.identifiers), templates)
                sent += 1
                continue
            version = mqtt.version
            ids = grant.identifiers
            # The common shape (no retain flag, no identifiers) is keyed by the bare version:
            # no tuple to build and hash per subscriber.
            key = (version, retain, ids) if retain or ids else version
            data = cached(key)
            if data is None:
                props = (conn.publish_props(msg, ids, now)
                         if version == MQTT_5 else EMPTY_PROPERTIES)
                data = cache[key] = encode_publish(topic, payload, 0, retain, False, None,
                                                   props, version)
            transport = conn.transport
            if transport.get_write_buffer_size() > high:
                dropped += 1  # slow consumer: QoS 0 is dropped, never buffered without bound
                continue
            if not mqtt.send_publish_bytes(data):  # too big for this client
                self.counters["dropped_too_large"] += 1
                continue
            if conn.is_ws:
                fkey = (key, "ws")
                frame = cached(fkey)
                if frame is None:
                    frame = cache[fkey] = binary_frame(data)
                conn.put(frame)
            else:
                conn.put(data)
            sent += 1
        self.counters["messages_out"] += sent
        self.counters["dropped_qos0"] += dropped

    def send_now(self, conn: MqttProtocol, msg: Message, qos: int, retain: bool,
                 ids: tuple[int, ...]) -> None:
        """Deliver one message to one connection (retained messages on SUBSCRIBE)."""
        if qos:
            conn.deliver(Outgoing(msg, qos, retain, ids))
            return
        props = (conn.publish_props(msg, ids, self.clock())
                 if conn.version == MQTT_5 else EMPTY_PROPERTIES)
        data = conn.mqtt.send_publish_bytes(encode_publish(
            msg.topic, msg.payload, 0, retain, False, None, props, conn.version))
        if data:
            conn.write(data)
        else:
            self.stats_dropped(1)

    def publish_internal(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """A broker-originated message (lifecycle): routed and observed, origin None."""
        msg = Message(topic, payload, min(qos, self.settings.max_qos), False,
                      EMPTY_PROPERTIES, self.clock())
        self.consume(self.accept(msg, None, None))

    # --- subscriptions (subscriptions.py) --------------------------------------------------

    def subscribe(self, conn: MqttProtocol, p: Subscribe) -> None:
        subscriptions.subscribe(self, conn, p)

    def unsubscribe(self, conn: MqttProtocol, p: Unsubscribe) -> None:
        subscriptions.unsubscribe(self, conn, p)

    # --- sessions and housekeeping -----------------------------------------------------

    def discard_session(self, session: Session) -> None:
        for flt in session.subscriptions:
            self.router.unsubscribe(session, flt)
        session.subscriptions.clear()
        self.sessions.remove(session)
        pending = self.wills.pop(session.client_id, None)
        if pending is not None:  # the session ended first: the will goes now [MQTT-3.1.3-9]
            admission.publish_will(self, pending[1], pending[2], pending[3])

    def _restore_sessions(self) -> None:
        assert self.store is not None
        now = self.clock()
        for rec in self.store.load_sessions():
            session = Session.from_record(rec, self.settings.max_queued_messages)
            if session.disconnected_at is None:
                session.disconnected_at = now  # it was connected when the server stopped
            exp = session.expires_at()
            if exp is not None and now >= exp:
                continue
            self.sessions.put(session)
            for flt, grant in session.subscriptions.items():
                self.router.subscribe(session, flt, grant)

    def sweep(self) -> None:
        """One housekeeping pass; runs every ``sweep_interval`` s (tests call it)."""
        now = self.clock()
        s = self.settings
        for conn in list(self.connections):
            if conn.state is CONNECTING and now - conn.opened_at > s.connect_timeout:
                # A socket that never sent CONNECT, or an authenticator that never answered.
                conn.abort(R.CLIENT_ERROR)
            elif conn.state is CONNECTED:
                timeout = conn.mqtt.keep_alive_timeout
                if timeout is not None and now - conn.last_rx > timeout:
                    conn.disconnect(0x8D, R.MQTT_KEEP_ALIVE_TIMEOUT, "keep alive timeout")
                elif conn.expires_at is not None and now >= conn.expires_at:
                    # Credentials ran out: 0xA0 Maximum connect time.
                    conn.disconnect(0xA0, R.CUSTOMAUTH_TTL_EXPIRATION, "credentials expired")
        for client_id, (due, msg, origin, authz) in list(self.wills.items()):
            if now >= due:
                del self.wills[client_id]
                admission.publish_will(self, msg, origin, authz)
        for session in self.sessions.expired(now):
            self.discard_session(session)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                self.sweep()
            except Exception:  # housekeeping must go on; a bug here is logged loudly
                log.exception("broker sweep failed")


__all__ = ["Broker", "CLOSED"]
