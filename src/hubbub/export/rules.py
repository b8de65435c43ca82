"""Topic rules as ``AWS::IoT::TopicRule`` resources, each with the IAM role its actions need.

The manifest's rules are ``TopicRulePayload``s already; what changes on the way to AWS is
how actions name their targets. Locally a target is a name from the manifest (function
``chat``, table ``chat``, stream ``chat``); in the template it becomes the resource's
ARN or physical name, and IoT Core needs a role it can assume to reach anything but
Lambda (republish, kinesis, dynamoDBv2, stepFunctions all take a ``roleArn``), while
Lambda needs a resource policy letting ``iot.amazonaws.com`` invoke the function
(AWS IoT developer guide, "Lambda" rule action).

Every rule gets its own role holding exactly its actions' permissions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubbub.app import AppSpec
from hubbub.errors import ConfigError
from hubbub.export.cfn import Ids, Json, arn, escape_sub, getatt, physical, ref, topic_pattern
from hubbub.rules.spec import (
    Action,
    DynamoDBv2Action,
    KinesisAction,
    LambdaAction,
    RepublishAction,
    RuleSpec,
    StepFunctionsAction,
)


class RuleTargets:
    """Logical ids of the resources a rule's action may name."""

    def __init__(self, app: AppSpec, ids: Ids) -> None:
        self.functions = {n: ids.make(n, "Function") for n in app.functions}
        self.tables = {n: ids.make(n, "Table") for n in app.tables}
        self.streams = {n: ids.make(n, "Stream") for n in app.streams}
        self.machines = {n: ids.make(n, "StateMachine") for n in app.state_machines}


def _plain(value: str, what: str, where: str) -> str:
    if "${" in value:
        raise ConfigError(f"{where}: a {what} chosen per message ({value!r}) cannot be exported: "
                          "the template must know which resource to grant and wire")
    return value


def _known(name: str, known: Mapping[str, str], what: str, where: str) -> str:
    if name not in known:
        raise ConfigError(f"{where}: no {what} {name!r} in this application "
                          f"(it has: {', '.join(sorted(known)) or 'none'})")
    return known[name]


class _RuleBuilder:
    def __init__(self, rule: RuleSpec, rule_id: str, targets: RuleTargets) -> None:
        self.rule = rule
        self.rule_id = rule_id
        self.role_id = rule_id + "Role"
        self.targets = targets
        self.statements: list[Json] = []
        self.permissions: dict[str, Json] = {}

    def _grant(self, action: str, resource: Any) -> None:
        st = {"Effect": "Allow", "Action": action, "Resource": resource}
        if st not in self.statements:
            self.statements.append(st)

    def action(self, a: Action, where: str) -> Json:
        role = getatt(self.role_id, "Arn")
        match a:
            case RepublishAction(topic, qos):
                # Topic templates stay literal: IoT Core substitutes them per message.
                self._grant("iot:Publish", arn("iot", "topic/" + escape_sub(topic_pattern(topic))))
                return {"Republish": {"Topic": topic, "Qos": qos, "RoleArn": role}}
            case LambdaAction(function):
                if function.startswith("arn:"):
                    target: Any = function
                else:
                    fn = _known(_plain(function, "function", where), self.targets.functions,
                                "function", where)
                    target = getatt(fn, "Arn")
                pid = f"{self.rule_id}Invoke{len(self.permissions)}"
                self.permissions[pid] = {"Type": "AWS::Lambda::Permission", "Properties": {
                    "Action": "lambda:InvokeFunction", "FunctionName": target,
                    "Principal": "iot.amazonaws.com",
                    "SourceArn": getatt(self.rule_id, "Arn"),
                    "SourceAccount": ref("AWS::AccountId")}}
                return {"Lambda": {"FunctionArn": target}}
            case KinesisAction(stream, partition_key):
                sid = _known(_plain(stream, "stream", where), self.targets.streams,
                             "stream", where)
                self._grant("kinesis:PutRecord", getatt(sid, "Arn"))
                body: Json = {"StreamName": ref(sid), "RoleArn": role}
                if partition_key is not None:
                    body["PartitionKey"] = partition_key
                return {"Kinesis": body}
            case DynamoDBv2Action(table):
                tid = _known(_plain(table, "table", where), self.targets.tables, "table", where)
                self._grant("dynamodb:PutItem", getatt(tid, "Arn"))
                return {"DynamoDBv2": {"PutItem": {"TableName": ref(tid)}, "RoleArn": role}}
            case StepFunctionsAction(machine, prefix):
                name = _plain(machine, "state machine", where)
                # A machine a function creates at run time has no resource; it is named
                # {stack}-{name} all the same (hubbub.aws.services), so name it that way.
                if name in self.targets.machines:
                    sm_name: Any = getatt(self.targets.machines[name], "Name")
                else:
                    sm_name = physical(name)
                self._grant("states:StartExecution",
                            arn("states", f"stateMachine:${{AWS::StackName}}-{name}"))
                out: Json = {"StateMachineName": sm_name, "RoleArn": role}
                if prefix is not None:
                    out["ExecutionNamePrefix"] = prefix
                return {"StepFunctions": out}
        raise ConfigError(f"{where}: action {a!r} cannot be exported")  # pragma: no cover


def rule_resources(app: AppSpec, ids: Ids, targets: RuleTargets) -> dict[str, Json]:
    """The ``AWS::IoT::TopicRule`` of every rule, plus its role and Lambda permissions."""
    out: dict[str, Json] = {}
    for name, payload in app.rules.items():
        rule = RuleSpec.from_payload(name, payload)  # ConfigError naming what is wrong
        rule_id = ids.make(name, "Rule")
        b = _RuleBuilder(rule, rule_id, targets)
        where = f"rule {name!r}"
        actions = [b.action(a, f"{where}.actions[{i}]") for i, a in enumerate(rule.actions)]
        body: Json = {"Sql": rule.sql, "AwsIotSqlVersion": rule.sql_version,
                      "RuleDisabled": rule.disabled, "Actions": actions}
        if rule.error_action is not None:
            body["ErrorAction"] = b.action(rule.error_action, f"{where}.errorAction")
        if rule.description:
            body["Description"] = rule.description
        out[rule_id] = {"Type": "AWS::IoT::TopicRule", "Properties": {"TopicRulePayload": body}}
        if b.statements:
            out[b.role_id] = {"Type": "AWS::IAM::Role", "Properties": {
                "Description": f"what topic rule {name} may do",
                "AssumeRolePolicyDocument": assume_role("iot.amazonaws.com"),
                "Policies": [{"PolicyName": "actions", "PolicyDocument": {
                    "Version": "2012-10-17", "Statement": b.statements}}]}}
        out.update(b.permissions)
    return out


def assume_role(service: str) -> Json:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
