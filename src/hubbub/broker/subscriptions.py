"""SUBSCRIBE and UNSUBSCRIBE: filter checks, policy, the subscription limit, retained
messages on subscribe, and the lifecycle events that follow."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.broker import admission
from hubbub.broker.protocol import MqttProtocol
from hubbub.broker.router import Grant
from hubbub.broker.sessions import Session
from hubbub.mqtt.packets import Suback, Subscribe, Subscription, Unsuback, Unsubscribe
from hubbub.mqtt.topics import TopicError, validate_topic_filter

if TYPE_CHECKING:
    from hubbub.broker.broker import Broker


# --- subscriptions --------------------------------------------------------------------

def subscribe(broker: Broker, conn: MqttProtocol, p: Subscribe) -> None:
    session = conn.session
    assert session is not None
    ids = p.properties.subscription_identifiers[:1]
    codes: list[int] = []
    granted: list[tuple[Subscription, int, bool]] = []
    for sub in p.subscriptions:
        code, new = _subscribe_one(broker, conn, session, sub, ids)
        codes.append(code)
        if code < 0x80:
            granted.append((sub, code, new))
    conn.send(Suback(p.packet_id, tuple(codes)))
    now = broker.clock()
    for sub, qos, new in granted:  # retained messages after the SUBACK [MQTT-3.8.4-4]
        if sub.retain_handling == 2 or (sub.retain_handling == 1 and not new):
            continue
        if not broker.settings.retain_available:
            continue
        for msg in broker.retained.matching(sub.filter, now):
            if conn.filter_receive and not conn.authorizer.can_receive(msg.topic):
                continue
            # Retained messages go out with RETAIN set [MQTT-3.3.1-8, 3.3.1-9].
            broker.send_now(conn, msg, min(qos, msg.qos), True, ids)
    if granted:
        admission.lifecycle_subscriptions(broker, conn, [g[0].filter for g in granted], True)

def _subscribe_one(broker: Broker, conn: MqttProtocol, session: Session, sub: Subscription,
                   ids: tuple[int, ...]) -> tuple[int, bool]:
    s = broker.settings
    flt = sub.filter
    if flt.startswith("$share/"):
        return 0x9E, False  # Shared Subscriptions not supported (announced in CONNACK)
    try:
        validate_topic_filter(flt, max_bytes=s.max_topic_bytes,
                              max_levels=s.max_topic_levels)
    except TopicError:
        return 0x8F, False
    if not conn.authorizer.can_subscribe(flt):
        broker.violation(conn)
        return 0x87, False
    new = flt not in session.subscriptions
    if new and len(session.subscriptions) >= s.max_subscriptions:
        return 0x97, False  # Quota exceeded: IoT Core's 50 subscriptions per connection
    qos = min(sub.qos, s.max_qos)  # QoS 2 asked, 1 granted when capped [MQTT-3.9.3]
    grant = Grant(qos, sub.no_local, sub.retain_as_published, sub.retain_handling, ids)
    broker.router.subscribe(session, flt, grant)
    session.subscriptions[flt] = grant
    return qos, new

def unsubscribe(broker: Broker, conn: MqttProtocol, p: Unsubscribe) -> None:
    session = conn.session
    assert session is not None
    codes = []
    gone = []
    for flt in p.filters:
        if session.subscriptions.pop(flt, None) is not None:
            broker.router.unsubscribe(session, flt)
            codes.append(0x00)
            gone.append(flt)
        else:
            codes.append(0x11)  # No subscription existed
    conn.send(Unsuback(p.packet_id, tuple(codes)))
    if gone:
        admission.lifecycle_subscriptions(broker, conn, gone, False)
