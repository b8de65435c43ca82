"""The guest policy as exported to AWS binds the client id to the Cognito identity: the
policy taken out of the template and evaluated by hubbub's own policy engine
(hubbub.auth) allows a guest to connect only as its identity id and to read only its
own inbox; the shipped local policy, where the token does the binding, stays as it is."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hubbub.app import load_app
from hubbub.auth.documents import Action, PolicyDocument
from hubbub.auth.policy import Authorizer, PolicyEngine
from hubbub.errors import ConfigError
from hubbub.export.guest import IDENTITY_VAR, allows_connect, bind_to_identity
from hubbub.export.sam import build_template

ME = "us-east-1:0a1b2c3d-0000-4000-8000-000000000001"
OTHER = "us-east-1:0a1b2c3d-0000-4000-8000-000000000002"


@pytest.fixture(scope="module")
def exported() -> PolicyEngine:
    template = build_template(load_app())
    role = template["Resources"]["GuestRole"]["Properties"]
    doc = role["Policies"][0]["PolicyDocument"]
    return PolicyEngine({"aws-guest": PolicyDocument.parse("aws-guest", doc)})


@pytest.fixture(scope="module")
def local() -> PolicyEngine:
    doc = load_app().policies["chat-guest"]
    return PolicyEngine({"chat-guest": PolicyDocument.parse("chat-guest", dict(doc))})


def as_guest(engine: PolicyEngine, client_id: str, identity: str = ME) -> Authorizer:
    return engine.authorizer(client_id=client_id, identity_id=identity,
                             policy_names=engine.names)


# (what, client id the guest connects with, check, allowed)
TABLE: list[tuple[str, str, str, str, bool]] = [
    ("connect as own identity id", ME, "connect", "", True),
    ("connect as another identity's id", OTHER, "connect", "", False),
    ("connect as a made-up id", "alice", "connect", "", False),
    ("connect as '+'", "+", "connect", "", False),
    ("connect as '*'", "*", "connect", "", False),
    ("connect as own id plus a suffix", ME + "x", "connect", "", False),
    ("subscribe to own inbox", ME, "subscribe", f"chat/in/{ME}", True),
    ("subscribe to another's inbox", ME, "subscribe", f"chat/in/{OTHER}", False),
    ("subscribe to every inbox", ME, "subscribe", "chat/in/+", False),
    ("subscribe to everything", ME, "subscribe", "#", False),
    ("receive another's inbox", ME, "receive", f"chat/in/{OTHER}", False),
    ("subscribe to a room", ME, "subscribe", "chat/pub/lobby", True),
    ("publish to chat/out", ME, "publish", "chat/out", True),
    ("publish to the stream topic", ME, "publish", "chat/stream", True),
    ("publish to a room directly", ME, "publish", "chat/pub/lobby", False),
    ("publish to own inbox", ME, "publish", f"chat/in/{ME}", False),
    ("publish a lifecycle event", ME, "publish", f"$aws/events/presence/connected/{ME}", False),
]


def decide(auth: Authorizer, check: str, target: str) -> bool:
    if check == "connect":
        return auth.can_connect()
    return bool({"subscribe": auth.can_subscribe, "receive": auth.can_receive,
                 "publish": auth.can_publish}[check](target))


@pytest.mark.parametrize(("client_id", "check", "target", "allowed"),
                         [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_exported_guest_policy(exported: PolicyEngine, client_id: str, check: str,
                               target: str, allowed: bool) -> None:
    auth = as_guest(exported, client_id)
    assert decide(auth, check, target) is allowed, auth.explain(Action.CONNECT,
                                                                f"client/{client_id}")


def test_the_local_policy_leaves_the_binding_to_the_token(local: PolicyEngine,
                                                          exported: PolicyEngine) -> None:
    # Locally any client id the (signed) token names may connect: the token is the binding.
    # The same statement on AWS, unbound, is what the export must not ship.
    assert as_guest(local, OTHER).can_connect()
    assert not as_guest(exported, OTHER).can_connect()
    # Everything but Connect is decided the same way.
    for _, client_id, check, target, _ in TABLE:
        if check != "connect":
            assert decide(as_guest(local, client_id), check, target) == \
                decide(as_guest(exported, client_id), check, target), (check, target)


def test_without_an_identity_nothing_connects(exported: PolicyEngine) -> None:
    auth = exported.authorizer(client_id=ME, identity_id=None, policy_names=exported.names)
    assert not auth.can_connect()


# -- bind_to_identity on its own -----------------------------------------------------------

CLIENT = "arn:aws:iot:*:*:client/${iot:ClientId}"
BOUND = f"arn:aws:iot:*:*:client/{IDENTITY_VAR}"


@pytest.mark.parametrize(("statement", "expected"), [
    ({"Effect": "Allow", "Action": "iot:Connect", "Resource": CLIENT},
     {"Effect": "Allow", "Action": "iot:Connect", "Resource": BOUND}),
    ({"Effect": "Allow", "Action": ["iot:connect"], "Resource": [CLIENT.replace(
        "ClientId", "clientid")]},
     {"Effect": "Allow", "Action": ["iot:connect"], "Resource": [BOUND]}),
    ({"Effect": "Allow", "Action": "iot:*", "Resource": [
        "arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}",
        "arn:aws:iot:*:*:topic/chat/${iot:ClientId}"]},
     {"Effect": "Allow", "Action": "iot:*", "Resource": [
         f"arn:aws:iot:us-east-1:123456789012:client/{IDENTITY_VAR}",
         "arn:aws:iot:*:*:topic/chat/${iot:ClientId}"]}),
    ({"Effect": "Allow", "Action": "iot:Subscribe",
      "Resource": "arn:aws:iot:*:*:topicfilter/chat/in/${iot:ClientId}"}, None),
    ({"Effect": "Deny", "Action": "iot:Connect", "Resource": "*"}, None),
    ({"Effect": "Allow", "Action": "iot:Connect", "Resource": BOUND}, None),
])
def test_binding(statement: dict[str, Any], expected: dict[str, Any] | None) -> None:
    original = copy.deepcopy(statement)
    (out,) = bind_to_identity([statement], "policies.g")
    assert out == (expected if expected is not None else original)
    assert statement == original  # the manifest's document is not changed in place


@pytest.mark.parametrize("statement", [
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
    {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:iot:*:*:*"},
    {"Effect": "Allow", "Action": "iot:Conn*", "Resource": "arn:aws:iot:*:*:client/*"},
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:iot:*:*:client/lobby-bot"},
    {"Effect": "Allow", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:*:*:client/${iot:ClientId}-*"},
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:iot:*:*:c?ient/x"},
])
def test_a_guest_that_could_take_any_id_is_refused(statement: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="only as its own Cognito identity"):
        bind_to_identity([statement], "policies.g")


@pytest.mark.parametrize(("action", "connects"), [
    ("iot:Connect", True), ("IOT:CONNECT", True), ("iot:*", True), ("*", True),
    ("iot:C?nnect", True), ("iot:Publish", False), ("s3:*", False)])
def test_allows_connect(action: str, connects: bool) -> None:
    assert allows_connect({"Effect": "Allow", "Action": action, "Resource": "*"}) is connects
    assert not allows_connect({"Effect": "Deny", "Action": action, "Resource": "*"})


def test_the_export_refuses_an_unbound_guest(tmp_path: Any) -> None:
    import json

    (tmp_path / "hubbub.json").write_text(json.dumps({
        "name": "open", "policies": {"g": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}},
        "identity": {"guestPolicy": "g"}}))
    with pytest.raises(ConfigError, match=r"policies\.g\.Statement\[0\]"):
        build_template(load_app(tmp_path))
