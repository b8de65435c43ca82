from __future__ import annotations

from typing import Any

import pytest

from hubbub.errors import ConfigError
from hubbub.rules import (
    DynamoDBv2Action,
    KinesisAction,
    LambdaAction,
    RepublishAction,
    RuleSpec,
    StepFunctionsAction,
)


def test_topic_rule_payload_camel_case() -> None:
    rule = RuleSpec.from_payload("chat_republish", {
        "sql": "SELECT * FROM 'chat/out' WHERE NOT isUndefined(room)",
        "awsIotSqlVersion": "2016-03-23",
        "ruleDisabled": False,
        "actions": [
            {"republish": {"topic": "chat/pub/${room}", "qos": 1, "roleArn": "arn:x"}},
            {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:1:function:chat"}},
            {"kinesis": {"streamName": "chat", "partitionKey": "${topic()}"}},
            {"dynamoDBv2": {"putItem": {"tableName": "chat"}}},
            {"stepFunctions": {"stateMachineName": "pipe", "executionNamePrefix": "run-"}},
        ],
        "errorAction": {"republish": {"topic": "errors"}},
    })
    assert rule.statement.topic_filter == "chat/out"
    assert rule.actions == (
        RepublishAction("chat/pub/${room}", 1),
        LambdaAction("arn:aws:lambda:us-east-1:1:function:chat"),
        KinesisAction("chat", "${topic()}"),
        DynamoDBv2Action("chat"),
        StepFunctionsAction("pipe", "run-"),
    )
    assert rule.error_action == RepublishAction("errors", 0)
    assert not rule.disabled


def test_cloudformation_pascal_case() -> None:
    rule = RuleSpec.from_payload("r", {
        "Sql": "SELECT * FROM 'a'", "AwsIotSqlVersion": "2016-03-23", "RuleDisabled": True,
        "Actions": [{"Lambda": {"FunctionArn": "f"}},
                    {"DynamoDBv2": {"PutItem": {"TableName": "t"}}}],
    })
    assert rule.disabled
    assert rule.actions == (LambdaAction("f"), DynamoDBv2Action("t"))


def test_function_name_is_accepted() -> None:
    rule = RuleSpec.from_payload("r", {"sql": "SELECT * FROM 'a'",
                                       "actions": [{"lambda": {"functionName": "chat"}}]})
    assert rule.actions == (LambdaAction("chat"),)


@pytest.mark.parametrize(("payload", "message"), [
    ({"sql": "SELECT * FROM 'a'", "actions": [{"s3": {"bucketName": "b"}}]},
     "unsupported action 's3'"),
    ({"sql": "SELECT * FROM 'a'", "actions": [{"republish": {}}]}, "republish.topic"),
    ({"sql": "SELECT * FROM 'a'", "actions": [{"republish": {"topic": "a/+"}}]}, "wildcards"),
    ({"sql": "SELECT * FROM 'a'", "actions": [{"republish": {"topic": "a", "qos": 2}}]},
     "qos must be 0 or 1"),
    ({"sql": "SELECT * FROM 'a'", "actions": [{"republish": {"topic": "a/${"}}]}, "unclosed"),
    ({"sql": "SELECT * FROM 'a'", "actions": [{"lambda": {}, "kinesis": {}}]}, "exactly one"),
    ({"sql": "SELECT * FROM 'a'", "actions": [{"kinesis": {"streamName": ""}}]}, "streamName"),
    ({"sql": "SELECT * FROM 'a'", "actions": {"lambda": {}}}, "'actions' must be a list"),
    ({"sql": "SELEC * FROM 'a'"}, "rule 'r': unexpected"),
    ({"sql": "SELECT * FROM 'a'", "awsIotSqlVersion": "2015-10-08"}, "not supported"),
    ({"sql": "SELECT * FROM 'a'", "ruleDisabled": "no"}, "ruleDisabled"),
    ({"sql": "SELECT * FROM 'a'", "sqlx": 1}, "unknown keys"),
    ({}, "'sql' must be a non-empty string"),
    ({"sql": "SELECT * FROM 'a'", "errorAction": {"nope": {}}}, "errorAction"),
    ("not an object", "must be an object"),
])
def test_bad_payloads_are_config_errors(payload: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("$", r"\$")):
        RuleSpec.from_payload("r", payload)


def test_bad_rule_name() -> None:
    with pytest.raises(ConfigError, match="rule name"):
        RuleSpec.from_payload("bad-name", {"sql": "SELECT * FROM 'a'"})
