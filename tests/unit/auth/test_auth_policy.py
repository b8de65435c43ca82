"""Policy evaluation, table-driven from the AWS IoT Core developer guide's examples
("Connect and publish policy examples", "Publish/Subscribe policy examples", "Receive
policy examples", "Policy variables") and the attack list of issue 3."""

from __future__ import annotations

from typing import Any

import pytest

from hubbub.auth.documents import Action, PolicyDocument, builtin_policies
from hubbub.auth.policy import Authorizer, PolicyEngine, check_client_id
from hubbub.auth.principal import Principal
from hubbub.errors import NotAuthorized, UsageError

ARN = "arn:aws:iot:us-east-1:123456789012"


def allow(action: Any, *resources: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": [f"{ARN}:{r}" for r in resources]}


def deny(action: Any, *resources: str) -> dict[str, Any]:
    return {**allow(action, *resources), "Effect": "Deny"}


def authorizer(*statements: dict[str, Any], client_id: str = "client1",
               identity_id: str | None = "us-east-1:1234") -> Authorizer:
    doc = PolicyDocument.parse("p", {"Version": "2012-10-17", "Statement": list(statements)})
    return PolicyEngine({"p": doc}).authorizer(client_id=client_id, identity_id=identity_id,
                                               policy_names=["p"])


def check(a: Authorizer, action: str, arg: str) -> bool:
    match action:
        case "connect":
            return a.can_connect()
        case "publish":
            return a.can_publish(arg)
        case "retain":
            return a.can_retain(arg)
        case "subscribe":
            return a.can_subscribe(arg)
        case "receive":
            return a.can_receive(arg)
    raise AssertionError(action)


CONNECT_ONE = [allow("iot:Connect", "client/client1")]
CONNECT_PREFIX_DENY = [allow("iot:Connect", "client/*"),
                       deny("iot:Connect", "client/client1", "client/client2")]
CONNECT_THING = [allow("iot:Connect", "client/${iot:Connection.Thing.ThingName}")]
CONNECT_Q = [allow("iot:Connect", "client/device-??")]
PUB_EXACT = [allow("iot:Publish", "topic/some_specific_topic")]
PUB_PREFIX = [allow("iot:Publish", "topic/topic_prefix*")]
PUB_ALL_BUT = [allow("iot:Publish", "topic/*"), deny("iot:Publish", "topic/restricted/*")]
PUB_OWN = [allow("iot:Publish", "topic/${iot:ClientId}/*")]
PUB_COGNITO = [allow("iot:Publish", "topic/${cognito-identity.amazonaws.com:sub}/*")]
PUB_SHADOW = [allow("iot:Publish", "topic/$aws/things/${iot:ClientId}/shadow/update")]
PUB_Q = [allow("iot:Publish", "topic/sensor/?/data")]
PUB_CASE = [allow("iot:Publish", "topic/${IOT:CLIENTID}")]
SUB_EXACT = [allow("iot:Subscribe", "topicfilter/some_specific_topic"),
             allow("iot:Receive", "topic/some_specific_topic")]
SUB_PREFIX = [allow("iot:Subscribe", "topicfilter/topic_prefix/*"),
              allow("iot:Receive", "topic/topic_prefix/*")]
SUB_LITERAL_PLUS = [allow("iot:Subscribe", "topicfilter/topic_root/+/topic_leaf"),
                    allow("iot:Receive", "topic/topic_root/*/topic_leaf")]
SUB_LITERAL_HASH = [allow("iot:Subscribe", "topicfilter/topic_root/#"),
                    allow("iot:Receive", "topic/topic_root*")]
SUB_ALL_DENY_SECRET = [allow(["iot:Subscribe", "iot:Receive"], "topicfilter/*", "topic/*"),
                       deny("iot:Subscribe", "topicfilter/secret/*")]
SUB_ALL_DENY_SECRET_RX = [*SUB_ALL_DENY_SECRET, deny("iot:Receive", "topic/secret/*")]
SUB_NO_RECEIVE = [allow("iot:Subscribe", "topicfilter/*")]
RETAIN_NONE = [allow("iot:Publish", "topic/*")]
RETAIN_BOTH = [allow(["iot:Publish", "iot:RetainPublish"], "topic/*")]
RETAIN_ONLY = [allow("iot:RetainPublish", "topic/*")]
STAR_ALL = [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]
DENY_UNKNOWN_VAR = [allow("iot:Publish", "topic/*"),
                    deny("iot:Publish", "topic/${iot:Connection.Thing.ThingName}/*")]

TABLE: list[tuple[str, list[dict[str, Any]], str, str, str, bool]] = [
    # (case, statements, client id, action, argument, expected)
    ("connect: exact id", CONNECT_ONE, "client1", "connect", "", True),
    ("connect: other id", CONNECT_ONE, "client2", "connect", "", False),
    ("connect: ids are case-sensitive", CONNECT_ONE, "Client1", "connect", "", False),
    ("connect: deny beats allow *", CONNECT_PREFIX_DENY, "client1", "connect", "", False),
    ("connect: deny list spares others", CONNECT_PREFIX_DENY, "client3", "connect", "", True),
    ("connect: unresolved thing variable", CONNECT_THING, "client1", "connect", "", False),
    ("connect: ? is one character", CONNECT_Q, "device-01", "connect", "", True),
    ("connect: ? is not zero characters", CONNECT_Q, "device-1", "connect", "", False),
    ("connect: ? is not two characters", CONNECT_Q, "device-001", "connect", "", False),
    ("connect: nothing allowed by default", PUB_EXACT, "client1", "connect", "", False),
    ("publish: exact topic", PUB_EXACT, "client1", "publish", "some_specific_topic", True),
    ("publish: no sub-topic", PUB_EXACT, "client1", "publish", "some_specific_topic/a", False),
    ("publish: prefix*", PUB_PREFIX, "client1", "publish", "topic_prefix", True),
    ("publish: * spans /", PUB_PREFIX, "client1", "publish", "topic_prefix/a/b", True),
    ("publish: * spans within level", PUB_PREFIX, "client1", "publish", "topic_prefixes", True),
    ("publish: other prefix", PUB_PREFIX, "client1", "publish", "topic_prefi", False),
    ("publish: deny sub-tree", PUB_ALL_BUT, "client1", "publish", "restricted/a", False),
    ("publish: deny sub-tree not parent", PUB_ALL_BUT, "client1", "publish", "restricted", True),
    ("publish: allowed elsewhere", PUB_ALL_BUT, "client1", "publish", "open/a", True),
    ("publish: own client id", PUB_OWN, "client1", "publish", "client1/temp", True),
    ("publish: other client id", PUB_OWN, "client1", "publish", "client2/temp", False),
    ("publish: cognito sub", PUB_COGNITO, "client1", "publish", "us-east-1:1234/x", True),
    ("publish: other cognito sub", PUB_COGNITO, "client1", "publish", "us-east-1:9/x", False),
    ("publish: shadow of own thing", PUB_SHADOW, "client1", "publish",
     "$aws/things/client1/shadow/update", True),
    ("publish: shadow of other thing", PUB_SHADOW, "client1", "publish",
     "$aws/things/client2/shadow/update", False),
    ("publish: ? one char", PUB_Q, "client1", "publish", "sensor/7/data", True),
    ("publish: ? matches / too", PUB_Q, "client1", "publish", "sensor///data", True),
    ("publish: ? not two", PUB_Q, "client1", "publish", "sensor/77/data", False),
    ("publish: variable names ignore case", PUB_CASE, "client1", "publish", "client1", True),
    ("publish: wildcard chars are no topic", STAR_ALL, "client1", "publish", "a/+", False),
    ("publish: wildcard chars are no topic #", STAR_ALL, "client1", "publish", "a/#", False),
    ("publish: empty topic", STAR_ALL, "client1", "publish", "", False),
    ("publish: iot:* on *", STAR_ALL, "client1", "publish", "anything/at/all", True),
    ("publish: unknown var in deny widens", DENY_UNKNOWN_VAR, "client1", "publish", "a/b", False),
    ("publish: ...only where it can match", DENY_UNKNOWN_VAR, "client1", "publish", "a", True),
    ("retain: needs RetainPublish", RETAIN_NONE, "client1", "retain", "a", False),
    ("retain: publish + retain", RETAIN_BOTH, "client1", "retain", "a", True),
    ("retain: retain without publish", RETAIN_ONLY, "client1", "retain", "a", False),
    ("subscribe: exact filter", SUB_EXACT, "client1", "subscribe", "some_specific_topic", True),
    ("subscribe: no wildcard below", SUB_EXACT, "client1", "subscribe",
     "some_specific_topic/+", False),
    ("subscribe: prefix level", SUB_PREFIX, "client1", "subscribe", "topic_prefix/a", True),
    ("subscribe: + under prefix", SUB_PREFIX, "client1", "subscribe", "topic_prefix/+", True),
    ("subscribe: +/# under prefix", SUB_PREFIX, "client1", "subscribe", "topic_prefix/+/#",
     True),
    # Stricter than IoT Core: 'topic_prefix/#' also matches the topic 'topic_prefix'.
    ("subscribe: /# reaches the parent", SUB_PREFIX, "client1", "subscribe", "topic_prefix/#",
     False),
    ("subscribe: literal + in policy", SUB_LITERAL_PLUS, "client1", "subscribe",
     "topic_root/+/topic_leaf", True),
    ("subscribe: literal + is not a wildcard", SUB_LITERAL_PLUS, "client1", "subscribe",
     "topic_root/a/topic_leaf", False),
    ("subscribe: literal #", SUB_LITERAL_HASH, "client1", "subscribe", "topic_root/#", True),
    ("subscribe: literal # is not a wildcard", SUB_LITERAL_HASH, "client1", "subscribe",
     "topic_root/a", False),
    ("subscribe: deny filter", SUB_ALL_DENY_SECRET, "client1", "subscribe", "secret/a", False),
    ("subscribe: # literally differs", SUB_ALL_DENY_SECRET, "client1", "subscribe", "#", True),
    ("subscribe: # reaches denied receive", SUB_ALL_DENY_SECRET_RX, "client1", "subscribe",
     "#", False),
    ("subscribe: +/a avoids secret/*", SUB_ALL_DENY_SECRET_RX, "client1", "subscribe", "+/a",
     False),
    ("subscribe: a/# avoids secret", SUB_ALL_DENY_SECRET_RX, "client1", "subscribe", "a/#",
     True),
    ("subscribe: without receive", SUB_NO_RECEIVE, "client1", "subscribe", "a", False),
    ("subscribe: invalid filter", STAR_ALL, "client1", "subscribe", "a/#/b", False),
    ("subscribe: invalid filter +", STAR_ALL, "client1", "subscribe", "a+", False),
    ("subscribe: empty filter", STAR_ALL, "client1", "subscribe", "", False),
    ("receive: exact", SUB_EXACT, "client1", "receive", "some_specific_topic", True),
    ("receive: other", SUB_EXACT, "client1", "receive", "some_specific_topic/a", False),
]


@pytest.mark.parametrize(("statements", "client_id", "action", "arg", "expected"),
                         [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_aws_examples(statements: list[dict[str, Any]], client_id: str, action: str, arg: str,
                      expected: bool) -> None:
    a = authorizer(*statements, client_id=client_id)
    assert check(a, action, arg) is expected
    assert check(a, action, arg) is expected  # and the cached answer agrees


def test_unresolved_identity_variable_grants_nothing() -> None:
    a = authorizer(*PUB_COGNITO, identity_id=None)
    assert not a.can_publish("None/x") and not a.can_publish("/x")


def test_variable_values_are_literal_not_wildcards() -> None:
    a = authorizer(*PUB_OWN, client_id="*")
    assert a.can_publish("*/temp")
    assert not a.can_publish("client2/temp")
    b = authorizer(*PUB_OWN, client_id="?")
    assert b.can_publish("?/t") and not b.can_publish("x/t")


def test_deny_in_one_policy_beats_allow_in_another() -> None:
    def parse(name: str, *st: dict[str, Any]) -> PolicyDocument:
        return PolicyDocument.parse(name, {"Version": "2012-10-17", "Statement": list(st)})

    engine = PolicyEngine({"open": parse("open", allow("iot:Publish", "topic/*")),
                           "closed": parse("closed", deny("iot:Publish", "topic/x"))})
    a = engine.authorizer(client_id="c", identity_id=None, policy_names=["open", "closed"])
    assert a.can_publish("y") and not a.can_publish("x")
    d = a.explain(Action.PUBLISH, "topic/x")
    assert not d.allowed and "closed" in d.reason and "Deny" not in d.reason
    assert "explicitly denied" in d.reason
    assert a.explain(Action.PUBLISH, "topic/y").reason.startswith("allowed by policy 'open'")
    assert "deny by default" in a.explain(Action.RECEIVE, "topic/y").reason


def test_explain_names_the_statement() -> None:
    a = authorizer({**allow("iot:Publish", "topic/a"), "Sid": "OnlyA"})
    assert "statement 0 (OnlyA)" in a.explain(Action.PUBLISH, "topic/a").reason


# ---------------------------------------------------------------- the chat's policies

CID = "web-0123456789abcdef"
OTHER = "web-fedcba9876543210"


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine(builtin_policies())


@pytest.fixture
def guest(engine: PolicyEngine) -> Authorizer:
    return engine.authorizer_for(Principal("local:abc", CID, "chat-guest", 2**40, True))


GUEST_ALLOWED = [
    ("connect", ""), ("publish", "chat/out"), ("publish", "chat/stream"),
    ("subscribe", f"chat/in/{CID}"), ("subscribe", "chat/pub/room1"),
    ("subscribe", "chat/pub/+"), ("subscribe", "chat/pub/+/#"),
    ("receive", f"chat/in/{CID}"), ("receive", "chat/pub/room1"),
]
GUEST_REFUSED = [
    # subscriptions that would reach other inboxes or everything
    ("subscribe", "chat/in/+"), ("subscribe", "chat/in/#"), ("subscribe", "#"),
    ("subscribe", "$aws/#"), ("subscribe", f"chat/in/{OTHER}"), ("subscribe", "+/in/" + CID),
    ("subscribe", f"chat/+/{CID}"), ("subscribe", "chat/#"), ("subscribe", "+/#"),
    ("subscribe", "+"), ("subscribe", "chat/+"), ("subscribe", "chat/pub/#"),
    ("subscribe", "$aws/events/presence/connected/+"), ("subscribe", f"chat/in/{CID}/#"),
    ("subscribe", f"chat/in/{CID}/+"), ("subscribe", "chat/out"), ("subscribe", "chat/in/*"),
    # publishes only the backend or the broker may do
    ("publish", "chat/pub/room1"), ("publish", f"chat/in/{OTHER}"), ("publish", f"chat/in/{CID}"),
    ("publish", f"$aws/events/presence/connected/{CID}"), ("publish", "$aws/events/x"),
    ("publish", "chat/out/x"), ("publish", "chat/outx"), ("publish", "chat/+"),
    ("retain", "chat/out"),
    # deliveries from elsewhere
    ("receive", f"chat/in/{OTHER}"), ("receive", "chat/out"), ("receive", "chat/pub"),
    ("receive", f"$aws/events/presence/connected/{OTHER}"), ("receive", f"chat/in/{CID}/x"),
]


@pytest.mark.parametrize(("action", "arg"), GUEST_ALLOWED)
def test_guest_policy_allows(guest: Authorizer, action: str, arg: str) -> None:
    assert check(guest, action, arg)


@pytest.mark.parametrize(("action", "arg"), GUEST_REFUSED)
def test_guest_policy_refuses(guest: Authorizer, action: str, arg: str) -> None:
    assert not check(guest, action, arg)


@pytest.mark.parametrize("client_id", ["+", "#", "a/b", "chat/in/+", "web-+", "", "a#"])
def test_wildcard_client_ids_are_refused_at_connect(engine: PolicyEngine,
                                                    client_id: str) -> None:
    for policy in ("chat-guest", "anonymous"):
        a = engine.authorizer(client_id=client_id, identity_id=None, policy_names=[policy])
        assert not a.can_connect()
    with pytest.raises(NotAuthorized) as info:
        check_client_id(client_id)
    assert info.value.mqtt_reason == 0x85


def test_ordinary_client_ids_pass() -> None:
    for client_id in ("web-0123", "mosquitto_sub-1", "a*", "$x", "x" * 128):
        check_client_id(client_id)


def test_client_id_plus_cannot_widen_the_inbox(engine: PolicyEngine) -> None:
    # Even if a broker forgot the connect check, '+' stays a literal character.
    a = engine.authorizer(client_id="+", identity_id=None, policy_names=["chat-guest"])
    assert not a.can_subscribe("chat/in/+")
    assert not a.can_receive(f"chat/in/{OTHER}")
    star = engine.authorizer(client_id="*", identity_id=None, policy_names=["chat-guest"])
    assert star.can_connect()
    assert not star.can_receive(f"chat/in/{OTHER}")
    assert not star.can_subscribe("chat/in/+")


def test_guest_cannot_connect_as_another_client_id(engine: PolicyEngine) -> None:
    # The token binds the client id; the policy's client/${iot:ClientId} binds Connect.
    a = engine.authorizer(client_id=CID, identity_id=None, policy_names=["chat-guest"])
    assert a.explain(Action.CONNECT, f"client/{OTHER}").allowed is False


@pytest.mark.parametrize(("topic", "expected"), [
    (f"chat/in/{CID}", True), ("chat/pub/room1", True), ("chat/out", False),
    ("chat/stream", False), ("$aws/events/x", False),
])
def test_backend_policy(engine: PolicyEngine, topic: str, expected: bool) -> None:
    a = engine.authorizer(client_id="hubbub", identity_id="local:backend",
                          policy_names=["chat-backend"])
    assert a.can_publish(topic) is expected
    assert not a.can_connect() and not a.can_subscribe("#") and not a.can_receive(topic)


ANON_TABLE = [
    ("connect", "", True), ("publish", "sensors/1", True), ("retain", "sensors/1", True),
    ("publish", "chat/out", True), ("publish", "$aws/events/presence/connected/x", False),
    ("retain", "$aws/x", False), ("publish", "chat/pub/room", False),
    ("publish", "chat/in/web-1", False), ("subscribe", "sensors/#", True),
    ("subscribe", "chat/pub/+", True), ("subscribe", "chat/+", True),
    ("subscribe", "$aws/events/#", True), ("subscribe", "#", False),
    ("subscribe", "chat/in/web-1", False), ("subscribe", "+/in/+", False),
    ("subscribe", "chat/#", False), ("receive", "chat/in/web-1", False),
    ("receive", "anything", True),
]


@pytest.mark.parametrize(("action", "arg", "expected"), ANON_TABLE)
def test_anonymous_example_policy(engine: PolicyEngine, action: str, arg: str,
                                  expected: bool) -> None:
    a = engine.authorizer(client_id="mosquitto_sub-1", identity_id=None,
                          policy_names=["anonymous"])
    assert check(a, action, arg) is expected


def test_unknown_policy_refuses_the_connection(engine: PolicyEngine) -> None:
    with pytest.raises(NotAuthorized, match="unknown policy 'nope'"):
        engine.authorizer(client_id="c", identity_id=None, policy_names=["nope"])


def test_engine_misuse(engine: PolicyEngine) -> None:
    with pytest.raises(UsageError):
        engine.authorizer(client_id="c", identity_id=None, policy_names="chat-guest")
    doc = builtin_policies()["anonymous"]
    with pytest.raises(UsageError):
        PolicyEngine({"other": doc})
    with pytest.raises(UsageError):
        PolicyEngine({}, cache_size=0)
    assert "chat-guest" in engine and engine.get("nope") is None
    assert set(engine.names) == {"chat-guest", "chat-backend", "anonymous"}


def test_cache_is_per_connection_bounded_and_clearable(engine: PolicyEngine) -> None:
    small = PolicyEngine(builtin_policies(), cache_size=2)
    a = small.authorizer(client_id=CID, identity_id=None, policy_names=["chat-guest"])
    for room in ("a", "b", "c", "a", "a"):
        assert a.can_receive(f"chat/pub/{room}")
    info = a.can_receive.cache_info()  # type: ignore[attr-defined]
    assert info.currsize == 2 and info.maxsize == 2 and info.hits == 1
    b = small.authorizer(client_id=OTHER, identity_id=None, policy_names=["chat-guest"])
    assert b.can_receive(f"chat/in/{OTHER}") and not a.can_receive(f"chat/in/{OTHER}")
    a.clear_cache()
    assert a.can_receive.cache_info().currsize == 0  # type: ignore[attr-defined]
    assert a.can_connect()
