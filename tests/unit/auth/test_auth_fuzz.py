"""Garbage in gives a clear, typed refusal, never a crash."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.auth.documents import PolicyDocument, PolicyError
from hubbub.auth.keys import Keyring
from hubbub.auth.policy import PolicyEngine
from hubbub.auth.tokens import TokenRejected, TokenService

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12)

resources = st.one_of(
    st.just("*"),
    st.builds(lambda k, n: f"arn:aws:iot:*:*:{k}/{n}",
              st.sampled_from(["topic", "topicfilter", "client", "t*", "bogus"]),
              st.text(alphabet="ab/+#*?${}:", max_size=12)),
    st.text(max_size=30),
)
statements = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny", "allow"]),
     "Action": st.one_of(st.sampled_from(["iot:*", "iot:Publish", "iot:Receive", "*", "x"]),
                         st.lists(st.sampled_from(["iot:Subscribe", "iot:Connect", "iot:R*"]),
                                  max_size=3)),
     "Resource": st.one_of(resources, st.lists(resources, max_size=3))})


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_never_crashes_the_parser(doc: Any) -> None:
    try:
        PolicyDocument.parse("fuzz", doc)
    except PolicyError as exc:
        assert "fuzz" in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.lists(statements, min_size=1, max_size=4),
       st.text(alphabet="ab/+#$*?", min_size=0, max_size=10), st.text(max_size=8))
def test_plausible_documents_parse_or_fail_clearly_and_evaluate(
        sts: list[dict[str, Any]], topic: str, client_id: str) -> None:
    try:
        doc = PolicyDocument.parse("p", {"Version": "2012-10-17", "Statement": sts})
    except PolicyError:
        return
    a = PolicyEngine({"p": doc}).authorizer(client_id=client_id, identity_id=None,
                                            policy_names=["p"])
    for answer in (a.can_connect(), a.can_publish(topic), a.can_retain(topic),
                   a.can_receive(topic), a.can_subscribe(topic)):
        assert isinstance(answer, bool)
    assert a.explain_subscribe(topic).allowed is a.can_subscribe(topic)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200),
                 st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.text(max_size=40),
                           st.text(max_size=40), st.text(max_size=40))))
def test_arbitrary_passwords_are_refused_cleanly(token: str | bytes) -> None:
    clock = lambda: 1_790_000_000.0  # noqa: E731
    service = TokenService(Keyring.generate(clock=clock), clock)
    try:
        service.verify(token)
    except TokenRejected as exc:
        assert exc.reason in {"missing", "malformed", "unsupported_algorithm", "unknown_key",
                              "bad_signature"}
    else:
        raise AssertionError("garbage verified")
