from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubbub.auth.documents import (
    ANY1,
    STAR,
    Action,
    PolicyDocument,
    PolicyError,
    Var,
    builtin_policies,
    load_policy_file,
)
from hubbub.errors import ConfigError

ARN = "arn:aws:iot:us-east-1:123456789012"


def doc(*statements: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def stmt(action: Any = "iot:Publish", resource: Any = f"{ARN}:topic/a",
         effect: str = "Allow", **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource, **extra}


def test_statement_may_be_an_object_and_action_a_list() -> None:
    d = PolicyDocument.parse("p", {"Version": "2012-10-17",
                                   "Statement": stmt(["iot:Publish", "iot:Receive"])})
    (s,) = d.statements
    assert s.actions == {Action.PUBLISH, Action.RECEIVE}
    assert s.effect == "Allow" and s.index == 0


@pytest.mark.parametrize(("action", "expected"), [
    ("iot:*", set(Action)),
    ("*", set(Action)),
    ("IOT:PUBLISH", {Action.PUBLISH}),  # IAM action names are case-insensitive
    ("iot:*Publish", {Action.PUBLISH, Action.RETAIN_PUBLISH}),
    ("iot:Re*", {Action.RECEIVE, Action.RETAIN_PUBLISH}),
    ("iot:Connec?", {Action.CONNECT}),
    ("iot:GetThingShadow", set()),  # valid IoT action, nothing hubbub checks
    ("greengrass:*", set()),
])
def test_actions(action: str, expected: set[Action]) -> None:
    (s,) = PolicyDocument.parse("p", doc(stmt(action))).statements
    assert s.actions == expected


def test_resource_tokens_variables_and_escapes() -> None:
    (s,) = PolicyDocument.parse("p", doc(stmt(
        resource=f"{ARN}:topic/a?${{iot:ClientId}}/*/${{*}}${{?}}${{$}}"))).statements
    (r,) = s.resources
    assert r.parts == ("t", "o", "p", "i", "c", "/", "a", ANY1, Var("iot:clientid"), "/",
                       STAR, "/", "*", "?", "$")
    assert r.variables == {"iot:clientid"}
    assert r.bind({"iot:clientid": "x*"}, unresolved=None) == (
        *"topic/a", ANY1, "x", "*", "/", STAR, "/", "*", "?", "$")
    assert r.bind({}, unresolved=None) is None
    assert r.bind({}, unresolved=STAR) == (*"topic/a", ANY1, STAR, "/", STAR, "/", "*", "?", "$")


def test_star_resource_and_any_region_account() -> None:
    d = PolicyDocument.parse("p", doc(stmt(resource=["*", "arn:aws:iot:*:*:topic/x",
                                                     "arn:aws-cn:iot:cn-north-1:1:topic/y"])))
    assert [r.parts for r in d.statements[0].resources] == [(STAR,), tuple("topic/x"),
                                                            tuple("topic/y")]


def test_topic_names_with_colons_survive_arn_split() -> None:
    (s,) = PolicyDocument.parse("p", doc(stmt(resource=f"{ARN}:topic/a:b:c"))).statements
    assert s.resources[0].parts == tuple("topic/a:b:c")


@pytest.mark.parametrize(("document", "message"), [
    ([], "JSON object"),
    ({"Statement": [stmt()]}, "Version"),
    ({"Version": "2008-10-17", "Statement": [stmt()]}, "Version"),
    ({"Version": "2012-10-17"}, "Statement"),
    ({"Version": "2012-10-17", "Statement": []}, "Statement"),
    ({"Version": "2012-10-17", "Statement": "x"}, "Statement"),
    ({"Version": "2012-10-17", "Statement": [stmt()], "Extra": 1}, "top-level"),
    (doc("x"), "statement 0: must be an object"),
    (doc(stmt(effect="allow")), "Effect"),
    (doc(stmt(effect="Maybe")), "Effect"),
    (doc({"Effect": "Allow", "Action": "iot:Publish"}), "Resource"),
    (doc({"Effect": "Allow", "Resource": "*"}), "Action"),
    (doc(stmt(action=[])), "Action"),
    (doc(stmt(action=[1])), "Action"),
    (doc(stmt(action="Publish")), "service:Name"),
    (doc(stmt(action="iot:Publsh")), "unknown action"),
    (doc(stmt(resource=[])), "Resource"),
    (doc(stmt(resource="topic/a")), "must be '\\*' or arn"),
    (doc(stmt(resource="arn:aws:iot:topic/a")), "must be '\\*' or arn"),
    (doc(stmt(resource="arn:aws:s3:::bucket/topic")), "not an AWS IoT ARN"),
    (doc(stmt(resource="arn:gcp:iot:r:a:topic/a")), "not an AWS IoT ARN"),
    (doc(stmt(resource=f"{ARN}:topc/a")), "unknown type 'topc'"),
    (doc(stmt(resource=f"{ARN}:topic/${{iot:ClientId")), "unterminated"),
    (doc(stmt(resource=f"{ARN}:topic/${{}}")), "empty"),
    (doc(stmt(resource=f"{ARN}:topic/a\x00")), "NUL"),
    (doc(stmt(Condition={"Bool": {"x": "true"}})), "Condition"),
    (doc(stmt(NotResource="*")), "NotResource"),
    (doc(stmt(Sid=5)), "Sid"),
    (doc(stmt(Whatever=1)), "unknown keys"),
])
def test_invalid_documents_give_clear_errors(document: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        PolicyDocument.parse("bad", document)
    assert "'bad'" in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_from_json_and_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not valid JSON"):
        PolicyDocument.from_json("p", "{")
    with pytest.raises(PolicyError, match="not valid JSON"):
        PolicyDocument.from_json("p", b"\xff")
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(doc(stmt())))
    assert load_policy_file(path).name == "mine"
    assert load_policy_file(path, "other").name == "other"
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy_file(tmp_path / "missing.json")


def test_builtin_policies_parse() -> None:
    policies = builtin_policies()
    assert set(policies) == {"chat-guest", "chat-backend", "anonymous"}
    assert all(p.name == n for n, p in policies.items())
