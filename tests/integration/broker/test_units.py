"""Pure parts of the broker: router merge, token bucket, retained store, lifecycle, storage."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.broker.lifecycle import DisconnectReason, connected, disconnected
from hubbub.broker.limits import TokenBucket
from hubbub.broker.message import Message
from hubbub.broker.retained import RetainedStore
from hubbub.broker.router import Grant, Router
from hubbub.broker.settings import BrokerSettings
from hubbub.broker.storage import BrokerStore, message_from_record, message_to_record
from hubbub.mqtt.packets import Properties
from hubbub.mqtt.topics import filter_matches

LEVELS = st.sampled_from(["a", "b", "$s", "+", "#"])
TOPIC_LEVELS = st.sampled_from(["a", "b", "$s", ""])


@st.composite
def filters(draw: st.DrawFn) -> str:
    levels = draw(st.lists(LEVELS, min_size=1, max_size=4))
    if "#" in levels:
        levels = levels[: levels.index("#") + 1]
    return "/".join(levels)


@settings(max_examples=200, deadline=None)
@given(subs=st.lists(st.tuples(st.integers(0, 3), filters(), st.integers(0, 2)), max_size=12),
       topic=st.lists(TOPIC_LEVELS, min_size=1, max_size=4).map("/".join))
def test_router_delivers_once_at_highest_qos(subs: list[tuple[int, str, int]],
                                             topic: str) -> None:
    router: Router[int] = Router()
    table: dict[tuple[int, str], int] = {}
    for key, flt, qos in subs:
        router.subscribe(key, flt, Grant(qos))
        table[(key, flt)] = qos  # re-subscribing replaces [MQTT-3.8.4-3]
    expected: dict[int, int] = {}
    for (key, flt), qos in table.items():
        if filter_matches(flt, topic):
            expected[key] = max(expected.get(key, 0), qos)
    assert {k: g.qos for k, g in router.match(topic).items()} == expected


def test_subscription_identifiers_merge_and_no_local() -> None:
    router: Router[str] = Router()
    router.subscribe("s", "a/#", Grant(0, identifiers=(1,)))
    router.subscribe("s", "a/+", Grant(1, identifiers=(2,)))
    router.subscribe("me", "a/b", Grant(1, no_local=True))
    got = router.match("a/b", publisher="me")
    assert set(got) == {"s"} and got["s"].qos == 1 and sorted(got["s"].identifiers) == [1, 2]


def test_token_bucket_refills_with_clock() -> None:
    now = [0.0]
    bucket = TokenBucket(10, 10, lambda: now[0])
    assert all(bucket.take() for _ in range(10))
    assert not bucket.take()
    now[0] += 0.5
    assert sum(bucket.take() for _ in range(10)) == 5


def test_retained_store_matching_and_expiry() -> None:
    store = RetainedStore()
    store.set(Message("a/b", b"1", created_at=0))
    store.set(Message("a/c", b"2", properties=Properties(message_expiry_interval=10),
                      created_at=0))
    store.set(Message("$SYS/x", b"3"))
    assert sorted(m.topic for m in store.matching("a/+", now=5)) == ["a/b", "a/c"]
    assert [m.topic for m in store.matching("#", now=11)] == ["a/b"]  # expired, no $
    assert len(store) == 2
    store.set(Message("a/b", b""))
    assert store.get("a/b") is None


def test_lifecycle_payloads() -> None:
    topic, payload = connected("c", 1.5, "sid", "p", "10.0.0.1", 3)
    assert topic == "$aws/events/presence/connected/c"
    assert json.loads(payload) == {"clientId": "c", "timestamp": 1500, "eventType": "connected",
                                   "sessionIdentifier": "sid", "principalIdentifier": "p",
                                   "ipAddress": "10.0.0.1", "versionNumber": 3}
    _, payload = disconnected("c", 2, "sid", "p", DisconnectReason.CONNECTION_LOST, 3)
    ev = json.loads(payload)
    assert ev["disconnectReason"] == "CONNECTION_LOST" and not ev["clientInitiatedDisconnect"]


def test_storage_round_trip(tmp_path: Path) -> None:
    props = Properties(user_properties=(("k", "v"),), correlation_data=b"\x00\x01",
                       message_expiry_interval=30, content_type="t")
    msg = Message("t/1", b"\xff\x00", 1, True, props, 12.5)
    assert message_from_record(json.loads(json.dumps(message_to_record(msg)))) == msg
    store = BrokerStore(tmp_path / "b.sqlite3")
    store.put_retained(msg)
    store.put_retained(Message("t/2", b"x"))
    store.delete_retained("t/2")
    store.close()
    assert BrokerStore(tmp_path / "b.sqlite3").load_retained() == [msg]


def test_keepalive_clamp() -> None:
    s = BrokerSettings()
    assert [s.clamp_keepalive(k) for k in (0, 5, 30, 600, 5000)] == [1200, 30, 30, 600, 1200]


def test_session_containers_are_made_on_first_use_and_round_trip() -> None:
    from hubbub.broker.sessions import Outgoing, Session

    idle = Session("idle", "s1", expiry_interval=60, max_queued=2)
    assert idle.queue is None and idle.inbound_qos2 is None  # ~1 KiB saved per idle client
    assert Session.from_record(json.loads(json.dumps(idle.to_record())), 2).queue is None
    busy = Session("busy", "s2", expiry_interval=60, max_queued=2)
    msg = Message("t/a", b"x", 1)
    assert busy.enqueue(Outgoing(msg, 1, False)) and busy.enqueue(Outgoing(msg, 1, False))
    assert not busy.enqueue(Outgoing(msg, 1, False)) and busy.dropped == 1
    busy.qos2_ids().add(7)
    again = Session.from_record(json.loads(json.dumps(busy.to_record())), 2)
    assert again.queue is not None and len(again.queue) == 2
    assert again.inbound_qos2 == {7}
