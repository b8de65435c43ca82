"""Rule definitions in the shape of IoT Core's ``TopicRulePayload``.

Accepted keys are the API's camelCase (``sql``, ``awsIotSqlVersion``, ``actions``,
``errorAction``, ``ruleDisabled``, ``description``) or CloudFormation's PascalCase
(``Sql``, ``AwsIotSqlVersion``, ...), in payloads and in actions alike. Action fields
that IoT Core lets carry substitution templates are compiled at load, so a bad
``${...}`` is a ``ConfigError`` before any message arrives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubbub.errors import ConfigError
from hubbub.mqtt.topics import TopicError, validate_topic_name
from hubbub.rules.statement import SQL_VERSIONS, Statement, parse_sql
from hubbub.rules.templates import compile_template

_PAYLOAD_KEYS = {"sql", "awsIotSqlVersion", "actions", "errorAction", "ruleDisabled",
                 "description"}
_RULE_NAME_RE = re.compile(r"[a-zA-Z0-9_]+\Z")  # IoT Core: ^[a-zA-Z0-9_]+$


@dataclass(frozen=True, slots=True)
class RepublishAction:
    topic: str  # template
    qos: int = 0
    kind: str = "republish"


@dataclass(frozen=True, slots=True)
class LambdaAction:
    function: str  # functionArn or functionName; template
    kind: str = "lambda"


@dataclass(frozen=True, slots=True)
class KinesisAction:
    stream_name: str  # template
    partition_key: str | None = None  # template; None: a new UUID per record
    kind: str = "kinesis"


@dataclass(frozen=True, slots=True)
class DynamoDBv2Action:
    table_name: str  # template
    kind: str = "dynamoDBv2"


@dataclass(frozen=True, slots=True)
class StepFunctionsAction:
    state_machine_name: str  # template
    execution_name_prefix: str | None = None  # template
    kind: str = "stepFunctions"


Action = RepublishAction | LambdaAction | KinesisAction | DynamoDBv2Action | StepFunctionsAction

ACTION_KINDS = ("republish", "lambda", "kinesis", "dynamoDBv2", "stepFunctions")


def _camel(d: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where} must be an object, not {type(d).__name__}")
    out: dict[str, Any] = {}
    for k, v in d.items():
        if not isinstance(k, str) or not k:
            raise ConfigError(f"{where} has a non-string key {k!r}")
        key = "dynamoDBv2" if k == "DynamoDBv2" else k[0].lower() + k[1:]
        out[key] = v
    return out


def _text(d: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    v = d.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{where}.{key} must be a non-empty string")
    try:
        compile_template(v)
    except ConfigError as exc:
        raise ConfigError(f"{where}.{key}: {exc}") from None
    return v


def parse_action(raw: Any, where: str) -> Action:
    """One entry of ``actions`` (or the ``errorAction``): exactly one kind as its key."""
    d = _camel(raw, where)
    if len(d) != 1:
        raise ConfigError(f"{where} must name exactly one action kind, got {sorted(d)}")
    (kind, body), = d.items()
    if kind not in ACTION_KINDS:
        raise ConfigError(f"{where}: unsupported action {kind!r} "
                          f"(supported: {', '.join(ACTION_KINDS)})")
    b = _camel(body, f"{where}.{kind}")
    w = f"{where}.{kind}"
    if kind == "republish":
        topic = _text(b, "topic", w)
        assert topic is not None
        if "${" not in topic:
            try:
                validate_topic_name(topic)
            except TopicError as exc:
                raise ConfigError(f"{w}.topic: {exc}") from None
        qos = b.get("qos", 0)
        if qos not in (0, 1) or isinstance(qos, bool):
            raise ConfigError(f"{w}.qos must be 0 or 1 (IoT Core republishes at most QoS 1)")
        return RepublishAction(topic, qos)
    if kind == "lambda":
        fn = b.get("functionArn", b.get("functionName"))
        key = "functionArn" if "functionArn" in b else "functionName"
        return LambdaAction(_text({key: fn}, key, w) or "")
    if kind == "kinesis":
        return KinesisAction(_text(b, "streamName", w) or "",
                             _text(b, "partitionKey", w, required=False))
    if kind == "dynamoDBv2":
        put = _camel(b.get("putItem", {}), f"{w}.putItem")
        return DynamoDBv2Action(_text(put, "tableName", f"{w}.putItem") or "")
    return StepFunctionsAction(_text(b, "stateMachineName", w) or "",
                               _text(b, "executionNamePrefix", w, required=False))


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One topic rule: its parsed SQL, actions and optional error action."""

    name: str
    statement: Statement
    actions: tuple[Action, ...]
    error_action: Action | None = None
    disabled: bool = False
    sql_version: str = "2016-03-23"
    description: str = ""

    @property
    def sql(self) -> str:
        return self.statement.sql

    @classmethod
    def from_payload(cls, name: str, payload: Mapping[str, Any]) -> RuleSpec:
        """Build from a ``TopicRulePayload``; raise ``ConfigError`` naming what is wrong."""
        where = f"rule {name!r}"
        if not isinstance(name, str) or not _RULE_NAME_RE.match(name):
            raise ConfigError(f"{where}: a rule name is letters, digits and '_' only")
        p = _camel(payload, where)
        unknown = sorted(set(p) - _PAYLOAD_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}")
        version = p.get("awsIotSqlVersion", "2016-03-23")
        if version not in SQL_VERSIONS:
            raise ConfigError(f"{where}: awsIotSqlVersion {version!r} is not supported "
                              f"(supported: {', '.join(SQL_VERSIONS)})")
        sql = p.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            raise ConfigError(f"{where}: 'sql' must be a non-empty string")
        try:
            statement = parse_sql(sql)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        actions = p.get("actions", [])
        if not isinstance(actions, list):
            raise ConfigError(f"{where}: 'actions' must be a list")
        parsed = tuple(parse_action(a, f"{where}.actions[{i}]") for i, a in enumerate(actions))
        err = p.get("errorAction")
        error_action = parse_action(err, f"{where}.errorAction") if err is not None else None
        disabled = p.get("ruleDisabled", False)
        if not isinstance(disabled, bool):
            raise ConfigError(f"{where}: 'ruleDisabled' must be true or false")
        description = p.get("description", "")
        return cls(name, statement, parsed, error_action, disabled, version,
                   description if isinstance(description, str) else "")
