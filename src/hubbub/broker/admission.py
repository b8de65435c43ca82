"""CONNECT to CONNACK, and the end of a connection: client ids, authentication,
session takeover and resumption, wills, and the lifecycle events around them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Coroutine, Generator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from hubbub.broker import lifecycle
from hubbub.broker.hooks import ALLOW_ALL, ConnectDecision, ConnectRequest, Identity, may_retain
from hubbub.broker.lifecycle import RESERVED_PREFIX, DisconnectReason
from hubbub.broker.message import Message
from hubbub.broker.protocol import CONNECTED, CONNECTING, ERROR, MqttProtocol
from hubbub.broker.sessions import Session
from hubbub.errors import PeerError
from hubbub.mqtt.errors import ConnectRefused
from hubbub.mqtt.packets import EMPTY_PROPERTIES, MQTT_5, Connack, Connect, Properties

if TYPE_CHECKING:
    from hubbub.broker.broker import Broker

log = logging.getLogger("hubbub.broker")
R = DisconnectReason


@functools.lru_cache(maxsize=64)
def _keep_alive_props(seconds: int) -> Properties:
    # Shared (Properties are frozen): building one costs ~3 µs, a tenth of a CONNECT.
    return Properties(server_keep_alive=seconds)


def _refused(reason: int, message: str) -> ConnectRefused:
    return ConnectRefused(message, mqtt_reason=reason)


def check_connect(broker: Broker, c: Connect) -> tuple[str, bool]:
    """The broker's own client id rules (the CONNECT's are checked by the connection);
    returns (client id, assigned)."""
    s = broker.settings
    cid = c.client_id
    assigned = False
    if not cid:
        cid = "hubbub-" + uuid.uuid4().hex  # [MQTT-3.1.3-6]
        assigned = True
    if "+" in cid or "#" in cid:
        # A wildcard in a client id turns ${iot:ClientId} policy filters into wildcards.
        raise _refused(0x85, "client id contains a wildcard")
    if len(cid.encode()) > s.max_client_id_bytes:
        raise _refused(0x85, f"client id longer than {s.max_client_id_bytes} bytes")
    if c.properties.authentication_method is not None:
        raise _refused(0x8C, "enhanced authentication is not supported")
    return cid, assigned


def start_connect(broker: Broker, conn: MqttProtocol, c: Connect) -> None:
    if not broker.accepting:
        refuse(broker, conn, _refused(0x8B, "server shutting down"))
        return
    try:
        cid, assigned = check_connect(broker, c)
    except PeerError as exc:
        conn.mqtt.fail(exc)  # a fault of this CONNECT: answered like the connection's own
        refuse(broker, conn, exc, c.client_id)
        return
    req = ConnectRequest(cid, c.username, c.password, c.protocol_level, c.clean_start,
                         conn.peer_ip, "ws" if conn.is_ws else "tcp")
    # The authenticator runs eagerly, like a Python 3.12 eager task: most decide without
    # awaiting anything (token check, anonymous policy), and then CONNACK is written in
    # this very read, with no task, no extra loop iteration and no pause/resume of reading
    # (together ~25% of the broker's CPU per connection in a connection storm). Only if it
    # suspends does it go on in a task while reading pauses (the connection holds back
    # later bytes undecoded meanwhile [MQTT-3.1.4-5]).
    coro = broker.authenticator.authenticate(req)
    try:
        step = coro.send(None)
    except StopIteration as done:
        decide(broker, conn, c, req, assigned, done.value, resume=False)
        return
    except Exception:
        log.exception("authenticator failed for %r", req.client_id)
        decide(broker, conn, c, req, assigned, ConnectDecision.refuse(0x80), resume=False)
        return
    conn.transport.pause_reading()
    task = asyncio.get_running_loop().create_task(
        _authenticate(broker, conn, c, req, assigned, _Resume(coro, step)))
    broker.track(task)


class _Resume:
    """Awaits the rest of a coroutine that was started by hand and suspended, yielding
    ``first``: the task awaiting this drives it on exactly as if it had started it."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, ConnectDecision], first: Any) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, ConnectDecision]:
        coro, step = self._coro, self._first
        while True:
            try:
                sent = yield step
            except BaseException as exc:  # e.g. the task's cancellation: the coroutine's
                try:
                    step = coro.throw(exc)
                except StopIteration as done:
                    return cast(ConnectDecision, done.value)
            else:
                try:
                    step = coro.send(sent)
                except StopIteration as done:
                    return cast(ConnectDecision, done.value)


async def _authenticate(broker: Broker, conn: MqttProtocol, c: Connect, req: ConnectRequest,
                        assigned: bool, pending: _Resume) -> None:
    try:
        decision = await pending
    except Exception:
        log.exception("authenticator failed for %r", req.client_id)
        decision = ConnectDecision.refuse(0x80)
    decide(broker, conn, c, req, assigned, decision, resume=True)


def decide(broker: Broker, conn: MqttProtocol, c: Connect, req: ConnectRequest,
           assigned: bool, decision: ConnectDecision, *, resume: bool) -> None:
    """Act on the authenticator's decision; ``resume``: reading was paused meanwhile."""
    if conn.mqtt.closed:
        return  # the client went away while we were deciding
    if not decision.accepted:
        refuse(broker, conn, _refused(decision.reason_code, "not authorized"), req.client_id)
        return
    try:
        attach(broker, conn, c, req.client_id, assigned, decision, resume=resume)
    except Exception:
        log.exception("connect of %r failed", req.client_id)
        refuse(broker, conn, _refused(0x80, "server error"), req.client_id)


def refuse(broker: Broker, conn: MqttProtocol, exc: PeerError, client_id: str = "") -> None:
    """Answer a refused CONNECT, then close: a fault of the CONNECT (the connection is in
    ERROR) as its ``goodbye()`` says; a decision about a well-formed one (authentication,
    shutdown, takeover) with a CONNACK carrying the reason."""
    broker.counters["connects_refused"] += 1
    mqtt = conn.mqtt
    if mqtt.state is ERROR:
        data = mqtt.goodbye()
    elif mqtt.state is CONNECTING and mqtt.connect is not None:
        data = mqtt.send(Connack(False, exc.mqtt_reason,
                                 Properties(reason_string=str(exc)[:200])))
    else:
        data = b""  # already closed
    if data:
        conn.write_packet(data)
    reason = R.AUTH_ERROR if exc.mqtt_reason in (0x86, 0x87, 0x8C) else R.CLIENT_ERROR
    client_id = client_id or mqtt.client_id or ""  # a fault the connection found in CONNECT
    # No event for ids that would bend its topic into a wildcard or into extra levels.
    if client_id and broker.settings.lifecycle_events and \
            not any(ch in client_id for ch in "+#/"):
        topic, payload = lifecycle.connect_failed(client_id, broker.clock(), "", conn.peer_ip,
                                                  reason)
        broker.publish_internal(topic, payload)
    conn.close_reason = reason
    mqtt.close()
    conn.close_transport(exc.mqtt_reason)


def attach(broker: Broker, conn: MqttProtocol, c: Connect, cid: str, assigned: bool,
           decision: ConnectDecision, *, resume: bool = True) -> None:
    """Accept the connection: take over, start or resume the session, send CONNACK.
    ``resume``: reading was paused while the authenticator waited; else the caller's
    read loop goes on with the packets after CONNECT."""
    s = broker.settings
    now = broker.clock()
    identity = decision.identity
    assert identity is not None
    old = broker.sessions.get(cid)
    if old is not None and old.link is not None:
        if not s.allow_takeover:
            refuse(broker, conn, _refused(0x85, "client id is in use"), cid)
            return
        old_conn: Any = old.link
        # A second connection with the same client id closes the first [MQTT-3.1.4-3].
        old_conn.disconnect(0x8E, R.DUPLICATE_CLIENTID, "session taken over")
        old = broker.sessions.get(cid)  # a clean old session ended with its connection
    v5 = c.protocol_level == MQTT_5
    wanted = (c.properties.session_expiry_interval or 0) if v5 else \
        (0 if c.clean_start else s.max_session_expiry)
    expiry = min(wanted, s.max_session_expiry)
    if old is not None and c.clean_start:
        broker.discard_session(old)  # clean start discards the old session [MQTT-3.1.2-4]
        old = None
    pending_will = broker.wills.pop(cid, None)  # reconnected in time: no will [MQTT-3.1.3-9]
    if old is None:
        session = Session(cid, uuid.uuid4().hex, expiry_interval=expiry,
                          principal_id=identity.principal_id,
                          max_queued=s.max_queued_messages)
        broker.sessions.put(session)
        present = False
        if pending_will is not None:
            publish_will(broker, pending_will[1], pending_will[2], pending_will[3])
    else:
        session = old
        present = True
        session.expiry_interval = expiry
    session.principal_id = identity.principal_id
    session.disconnected_at = None
    session.link = conn
    conn.session = session
    conn.identity = identity
    conn.authorizer = decision.authorizer or ALLOW_ALL
    conn.filter_receive = not getattr(conn.authorizer, "allows_everything", False)
    conn.expires_at = decision.expires_at
    keep_alive = s.clamp_keepalive(c.keep_alive)
    if c.will is not None:
        wp = c.will.properties
        conn.will = Message(c.will.topic, c.will.payload, c.will.qos, c.will.retain,
                            replace(wp, will_delay_interval=None), now)
        conn.will_delay = min(wp.will_delay_interval or 0, s.max_will_delay)
    # Server Keep Alive: the connection applies it (and times the client out by it) in
    # both versions; only v5 can announce it [MQTT-3.2.2-21], 3.1.1 drops the property.
    props = _keep_alive_props(keep_alive) if keep_alive != c.keep_alive else EMPTY_PROPERTIES
    if v5:
        # The connection adds the limits it enforces (Receive Maximum, Maximum QoS, ...).
        props = replace(props, assigned_client_identifier=cid if assigned else None,
                        session_expiry_interval=expiry if expiry != wanted else None,
                        shared_subscription_available=0)
    conn.send(Connack(present, 0, props))
    version = broker.versions.get(cid, -1) + 1
    broker.versions[cid] = version
    if s.lifecycle_events:
        topic, payload = lifecycle.connected(cid, now, session.session_id,
                                             identity.principal_id, conn.peer_ip, version)
        broker.publish_internal(topic, payload)
    if present:
        conn.resend_inflight()  # before any new packet of the client is handled
    if resume:
        conn.connect_done()


def detach(broker: Broker, conn: MqttProtocol) -> None:
    """The connection is gone: lifecycle event, will, and the session's fate."""
    session = conn.session
    if session is None or session.link is not conn:
        return
    now = broker.clock()
    session.link = None
    session.disconnected_at = now
    identity = conn.identity
    if broker.settings.lifecycle_events:
        topic, payload = lifecycle.disconnected(
            session.client_id, now, session.session_id, session.principal_id,
            conn.close_reason, broker.versions.get(session.client_id, 0))
        broker.publish_internal(topic, payload)
    will = conn.will
    if will is not None and not conn.clean_disconnect:
        delay = min(conn.will_delay, session.expiry_interval)
        if delay <= 0:
            publish_will(broker, will, identity, conn.authorizer)
        else:
            broker.wills[session.client_id] = (now + delay, will, identity, conn.authorizer)
    if session.expiry_interval == 0:
        broker.discard_session(session)


def publish_will(broker: Broker, will: Message, origin: Identity | None, authz: Any) -> None:
    """Publish a will as its client would have; the client's policy still applies."""
    if will.topic.startswith(RESERVED_PREFIX) or not authz.can_publish(will.topic) or \
            (will.retain and not may_retain(authz, will.topic)):
        broker.counters["denied"] += 1
        return
    msg = replace(will, created_at=broker.clock())
    broker.consume(broker.accept(msg, None, origin))


def lifecycle_subscriptions(broker: Broker, conn: MqttProtocol, topics: list[str],
                            subscribed: bool) -> None:
    session = conn.session
    if not broker.settings.lifecycle_events or session is None or conn.state != CONNECTED:
        return
    topic, payload = lifecycle.subscriptions(session.client_id, broker.clock(),
                                             session.session_id, session.principal_id,
                                             topics, subscribed)
    broker.publish_internal(topic, payload)
