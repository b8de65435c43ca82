"""The SAM export: the chat's template (and a fuller application's) lints clean with
cfn-lint, transforms with aws-sam-translator, and holds every manifest entry with the
right properties; manifests AWS cannot take give a clear ConfigError."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from hubbub.app import AppSpec, load_app
from hubbub.errors import ConfigError
from hubbub.export.sam import HANDLER, build_template, dumps

REGION = "us-east-1"


def lint(template: dict[str, Any]) -> list[str]:
    api = pytest.importorskip("cfnlint.api")
    matches = api.lint(json.dumps(template), config=api.ManualArgs(regions=[REGION]))
    return [f"{m.rule.id} {m.message} ({m.path})" for m in matches]


def transform(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    pytest.importorskip("samtranslator")
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform as sam_transform

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)

    class Policies:  # what IAM's ListPolicies would say about the policies SAM attaches
        def load(self) -> dict[str, str]:
            return {n: f"arn:aws:iam::aws:policy/service-role/{n}" for n in (
                "AWSLambdaBasicExecutionRole", "AWSLambdaKinesisExecutionRole",
                "AWSLambdaSQSQueueExecutionRole")}

    packaged = copy.deepcopy(template)  # as `sam package` leaves it: code in S3
    packaged["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"
    try:
        out: dict[str, Any] = sam_transform(packaged, {}, Policies())
    except InvalidDocumentException as exc:
        raise AssertionError([c.message for c in exc.causes]) from None
    return out


@pytest.fixture(scope="module")
def chat() -> AppSpec:
    return load_app()


@pytest.fixture(scope="module")
def chat_template(chat: AppSpec) -> dict[str, Any]:
    return build_template(chat)


def by_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def fn_id(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.replace("-", "_").split("_")) + "Function"


# -- the chat -----------------------------------------------------------------------------


def test_chat_template_lints_clean(chat_template: dict[str, Any]) -> None:
    assert lint(chat_template) == []


def test_chat_template_transforms(chat_template: dict[str, Any],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = transform(chat_template, monkeypatch)
    kinds = [r["Type"] for r in out["Resources"].values()]
    assert kinds.count("AWS::Lambda::Function") == 10
    assert kinds.count("AWS::Lambda::EventSourceMapping") == 1
    assert "AWS::ApiGatewayV2::Api" in kinds
    assert lint(out) == []  # the transformed (plain CloudFormation) template too


# What each chat function's code reaches (read from apps/chat/functions): its tables,
# whether it publishes, whether it creates and starts state machines.
CHAT_REACH: dict[str, tuple[list[str], bool, bool]] = {
    "chat": (["chat", "presence", "reactions"], True, True),
    "presence": (["presence"], True, False),
    "history": (["chat", "reactions"], False, False),
    "stream": (["chat", "reactions"], True, False),
    "room_history": (["chat"], False, False),
    "by_user": ([], False, False),
    "words": ([], False, False),
    "not_stopword": ([], False, False),
    "command_help": ([], False, False),
    "command_reply": ([], True, False),
}


def test_every_function(chat: AppSpec, chat_template: dict[str, Any]) -> None:
    functions = by_type(chat_template, "AWS::Serverless::Function")
    assert set(functions) == {fn_id(n) for n in chat.functions} == {
        fn_id(n) for n in CHAT_REACH}
    assert chat_template["Globals"]["Function"]["Handler"] == HANDLER
    assert chat_template["Globals"]["Function"]["Runtime"] == "python3.12"
    for name, spec in chat.functions.items():
        p = functions[fn_id(name)]["Properties"]
        assert p["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-" + name}
        assert p["Environment"]["Variables"]["HUBBUB_FUNCTION"] == name
        assert p["Timeout"] == math.ceil(spec.timeout)
        assert p["ReservedConcurrentExecutions"] == spec.concurrency


@pytest.mark.parametrize("name", list(CHAT_REACH))
def test_functions_get_least_privilege(chat: AppSpec, chat_template: dict[str, Any],
                                       name: str) -> None:
    tables, publishes, workflows = CHAT_REACH[name]
    policies = chat_template["Resources"][fn_id(name)]["Properties"]["Policies"]
    statements = policies[0]["Statement"] if policies else []
    actions = {a for s in statements for a in (
        s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    granted = [r["Fn::GetAtt"][0] for s in statements if "dynamodb:Query" in s["Action"]
               for r in s["Resource"]]
    assert granted == [f"{t.capitalize()}Table" for t in chat.tables if t in tables]
    publish = [s for s in statements if s["Action"] == "iot:Publish"]
    assert publish == (chat.policies["chat-backend"]["Statement"] if publishes else [])
    assert ("states:StartExecution" in actions) == workflows
    assert ("iam:PassRole" in actions) == workflows
    assert not any(a.startswith(("kinesis:", "lambda:")) for a in actions)  # none put/invoke


def test_every_table(chat: AppSpec, chat_template: dict[str, Any]) -> None:
    tables = by_type(chat_template, "AWS::DynamoDB::Table")
    assert set(tables) == {f"{n.capitalize()}Table" for n in chat.tables}
    for name, decl in chat.tables.items():
        t = tables[f"{name.capitalize()}Table"]
        p = t["Properties"]
        assert p["KeySchema"] == [{"AttributeName": decl.partition_key, "KeyType": "HASH"},
                                  {"AttributeName": decl.sort_key, "KeyType": "RANGE"}]
        assert {(a["AttributeName"], a["AttributeType"]) for a in p["AttributeDefinitions"]} \
            == {(decl.partition_key, "S"), (decl.sort_key, "S")}
        assert p["TimeToLiveSpecification"] == {"AttributeName": decl.ttl_attribute,
                                                "Enabled": True}
        assert p["BillingMode"] == "PAY_PER_REQUEST"
        assert t["DeletionPolicy"] == "Retain"


def test_the_stream_and_its_consumer(chat: AppSpec, chat_template: dict[str, Any]) -> None:
    decl = chat.streams["chat"]
    stream = chat_template["Resources"]["ChatStream"]
    assert stream["Type"] == "AWS::Kinesis::Stream"
    assert stream["Properties"]["ShardCount"] == decl.shards
    assert stream["Properties"]["RetentionPeriodHours"] == decl.retention_hours
    (consumer,) = decl.consumers
    events = chat_template["Resources"][fn_id(consumer.function)]["Properties"]["Events"]
    assert events["ChatStream"] == {"Type": "Kinesis", "Properties": {
        "Stream": {"Fn::GetAtt": ["ChatStream", "Arn"]}, "StartingPosition": "TRIM_HORIZON",
        "BatchSize": consumer.batch_size,
        "MaximumBatchingWindowInSeconds": math.ceil(consumer.batching_window_ms / 1000),
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": consumer.max_attempts - 1,
        "FunctionResponseTypes": ["ReportBatchItemFailures"]}}


def role_statements(template: dict[str, Any], rule_id: str) -> list[dict[str, Any]]:
    role = template["Resources"][rule_id + "Role"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "iot.amazonaws.com"}
    statements: list[dict[str, Any]] = \
        role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    return statements


def getatt(lid: str, attr: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [lid, attr]}


ROLE = {"Fn::GetAtt": ["{}Role", "Arn"]}
# (rule, the action the template must hold, the rule role's statements or None)
CHAT_RULES: list[tuple[str, dict[str, Any], list[tuple[str, Any]] | None]] = [
    ("ChatToFunction", {"Lambda": {"FunctionArn": getatt("ChatFunction")}}, None),
    ("ChatPresence", {"Lambda": {"FunctionArn": getatt("PresenceFunction")}}, None),
    ("ChatSubscriptions", {"Lambda": {"FunctionArn": getatt("PresenceFunction")}}, None),
    ("ChatRepublish", {"Republish": {"Topic": "chat/pub/${room}", "Qos": 1, "RoleArn": ROLE}},
     [("iot:Publish", {"Fn::Sub": "arn:${AWS::Partition}:iot:${AWS::Region}:"
                                  "${AWS::AccountId}:topic/chat/pub/*"})]),
    ("ChatStore", {"DynamoDBv2": {"PutItem": {"TableName": {"Ref": "ChatTable"}},
                                  "RoleArn": ROLE}},
     [("dynamodb:PutItem", getatt("ChatTable"))]),
    ("ChatStream", {"Kinesis": {"StreamName": {"Ref": "ChatStream"}, "PartitionKey": "${room}",
                                "RoleArn": ROLE}},
     [("kinesis:PutRecord", getatt("ChatStream"))]),
]


def with_role(value: Any, rule_id: str) -> Any:
    if value == ROLE:
        return getatt(rule_id + "Role")
    if isinstance(value, dict):
        return {k: with_role(v, rule_id) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("rule", "action", "grants"), CHAT_RULES, ids=[r[0] for r in CHAT_RULES])
def test_every_rule(chat: AppSpec, chat_template: dict[str, Any], rule: str,
                    action: dict[str, Any], grants: list[tuple[str, Any]] | None) -> None:
    rule_id = rule + "Rule"
    resource = chat_template["Resources"][rule_id]
    assert resource["Type"] == "AWS::IoT::TopicRule"
    payload = resource["Properties"]["TopicRulePayload"]
    assert payload["Sql"] == chat.rules[rule]["sql"]
    assert payload["AwsIotSqlVersion"] == "2016-03-23"
    assert payload["RuleDisabled"] is False
    assert payload["Actions"] == [with_role(action, rule_id)]
    if grants is None:
        assert rule_id + "Role" not in chat_template["Resources"]
        permission = chat_template["Resources"][rule_id + "Invoke0"]
        assert permission["Properties"] == {
            "Action": "lambda:InvokeFunction", "FunctionName": action["Lambda"]["FunctionArn"],
            "Principal": "iot.amazonaws.com", "SourceArn": getatt(rule_id),
            "SourceAccount": {"Ref": "AWS::AccountId"}}
    else:
        assert [(s["Action"], s["Resource"]) for s in role_statements(chat_template, rule_id)] \
            == grants


def test_the_manifest_rules_are_all_exported(chat: AppSpec,
                                             chat_template: dict[str, Any]) -> None:
    assert set(by_type(chat_template, "AWS::IoT::TopicRule")) == {r + "Rule" for r in chat.rules}
    assert {r for r, _, _ in CHAT_RULES} == set(chat.rules)


def test_policies_and_the_guest_identity(chat: AppSpec, chat_template: dict[str, Any]) -> None:
    policies = by_type(chat_template, "AWS::IoT::Policy")
    assert set(policies) == {"ChatGuestPolicy", "ChatBackendPolicy"}
    for name, lid in [("chat-guest", "ChatGuestPolicy"), ("chat-backend", "ChatBackendPolicy")]:
        p = policies[lid]["Properties"]
        assert p["PolicyDocument"]["Statement"] == chat.policies[name]["Statement"]
        assert p["PolicyName"] == {"Fn::Sub": "${AWS::StackName}-" + name}
    r = chat_template["Resources"]
    assert r["IdentityPool"]["Properties"]["AllowUnauthenticatedIdentities"] is True
    assert r["IdentityPoolRoles"]["Properties"]["Roles"] == {
        "unauthenticated": getatt("GuestRole")}
    guest = r["GuestRole"]["Properties"]
    trust = guest["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"]["StringEquals"] == {
        "cognito-identity.amazonaws.com:aud": {"Ref": "IdentityPool"}}
    assert trust["Condition"]["ForAnyValue:StringLike"] == {
        "cognito-identity.amazonaws.com:amr": "unauthenticated"}
    # IoT Core evaluates the IAM role for unauthenticated identities: the guest policy,
    # with Connect bound to the identity id (tests/unit/export/test_export_guest.py).
    exported = guest["Policies"][0]["PolicyDocument"]["Statement"]
    local = chat.policies["chat-guest"]["Statement"]
    assert exported[0] == {"Effect": "Allow", "Action": "iot:Connect", "Resource":
                           "arn:aws:iot:*:*:client/${cognito-identity.amazonaws.com:sub}"}
    assert local[0]["Resource"] == "arn:aws:iot:*:*:client/${iot:ClientId}"
    assert exported[1:] == local[1:]


def test_routes_site_and_outputs(chat: AppSpec, chat_template: dict[str, Any]) -> None:
    (route,) = chat.routes
    events = chat_template["Resources"][fn_id(route.function)]["Properties"]["Events"]
    assert events["Route0"] == {"Type": "HttpApi", "Properties": {
        "ApiId": {"Ref": "HttpApi"}, "Method": route.method, "Path": route.path,
        "PayloadFormatVersion": "2.0"}}
    r = chat_template["Resources"]
    assert r["SiteBucket"]["Type"] == "AWS::S3::Bucket"
    behaviors = r["SiteDistribution"]["Properties"]["DistributionConfig"]["CacheBehaviors"]
    assert [b["PathPattern"] for b in behaviors] == ["/config.json", "/api/*"]
    assert set(chat_template["Outputs"]) == {"IotEndpointLookup", "ApiUrl", "IdentityPoolId",
                                             "SiteBucket", "SiteUrl"}
    assert "describe-endpoint" in chat_template["Outputs"]["IotEndpointLookup"]["Value"]


def test_settings_and_options(chat: AppSpec) -> None:
    t = build_template(chat, settings={"welcomeHistory": 5}, reserved_concurrency=False,
                       code_uri="build/")
    env = t["Globals"]["Function"]["Environment"]["Variables"]
    assert json.loads(env["HUBBUB_SETTINGS"]) == {"welcomeHistory": 5}
    assert t["Globals"]["Function"]["CodeUri"] == "build/"
    assert not any("ReservedConcurrentExecutions" in r["Properties"]
                   for r in by_type(t, "AWS::Serverless::Function").values())
    with pytest.raises(ConfigError, match="too large"):
        build_template(chat, settings={"x": "y" * 5000})


def test_json_and_yaml_output(chat_template: dict[str, Any]) -> None:
    text = dumps(chat_template)
    assert json.loads(text) == chat_template
    yaml = pytest.importorskip("yaml")
    as_yaml = dumps(chat_template, Path("t.yaml"))
    assert not as_yaml.lstrip().startswith("{")
    assert yaml.safe_load(as_yaml) == chat_template


# -- an application using what the chat does not -------------------------------------------


def write_app(root: Path, **changes: Any) -> Path:
    manifest: dict[str, Any] = {
        "name": "full",
        "functions": {"work": {"handler": "f:work", "timeout": 2.5, "concurrency": 3,
                               "retries": 4},
                      "consume": {"handler": "f:consume"}, "sink": {"handler": "f:sink"}},
        "tables": {"items": {"partitionKey": "pk", "sortKey": "sk"}},
        "streams": {"events": {"shards": 1, "retentionHours": 48, "consumers": [
            {"function": "consume", "batchSize": 10, "batchingWindowMs": 1500,
             "maxAttempts": 1, "onFailure": "sink"}]}},
        "stateMachines": {"flow": {"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "End": True, "Branches": [
                {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": "work",
                                                  "End": True}}},
                {"StartAt": "I", "States": {"I": {
                    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "consume", "Payload.$": "$"},
                    "End": True}}}]}}}},
        "rules": {"Start": {
            "sql": "SELECT * FROM 'jobs/+'",
            "actions": [{"stepFunctions": {"stateMachineName": "flow",
                                           "executionNamePrefix": "job"}},
                        {"stepFunctions": {"stateMachineName": "made_later"}}],
            "errorAction": {"republish": {"topic": "errors/${topic()}", "qos": 0}},
            "ruleDisabled": True, "description": "start a flow per job"}},
        "policies": {"guest": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["iot:Connect", "iot:Publish"], "Resource": [
                "arn:aws:iot:*:*:client/${iot:ClientId}", "arn:aws:iot:*:*:topic/jobs/*"]}]}},
        "identity": {"guestPolicy": "guest"},
        "routes": [{"route": "POST /api/work", "function": "work"}],
    }
    manifest.update(changes)
    root.mkdir(parents=True, exist_ok=True)
    (root / "hubbub.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="module")
def full_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_template(load_app(write_app(tmp_path_factory.mktemp("full"))))


def test_full_app_lints_and_transforms(full_template: dict[str, Any],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert lint(full_template) == []
    out = transform(full_template, monkeypatch)
    kinds = [r["Type"] for r in out["Resources"].values()]
    assert kinds.count("AWS::StepFunctions::StateMachine") == 1
    assert kinds.count("AWS::Lambda::EventSourceMapping") == 2  # Kinesis + the failure queue


def test_state_machine_tasks_name_lambda_arns(full_template: dict[str, Any]) -> None:
    sm = full_template["Resources"]["FlowStateMachine"]
    assert sm["Type"] == "AWS::Serverless::StateMachine"
    p = sm["Properties"]
    assert p["Name"] == {"Fn::Sub": "${AWS::StackName}-flow"}
    assert p["Role"] == getatt("StatesRole")
    w, i = (b["States"][s] for b, s in zip(p["Definition"]["States"]["P"]["Branches"],
                                          ["W", "I"], strict=True))
    assert w["Resource"] == "${WorkFunction}"
    assert i["Parameters"]["FunctionName"] == "${ConsumeFunction}"
    assert p["DefinitionSubstitutions"] == {"WorkFunction": getatt("WorkFunction"),
                                            "ConsumeFunction": getatt("ConsumeFunction")}


def test_on_failure_goes_through_a_queue(full_template: dict[str, Any]) -> None:
    r = full_template["Resources"]
    consume = r["ConsumeFunction"]["Properties"]["Events"]["EventsStream"]["Properties"]
    assert consume["MaximumRetryAttempts"] == 0
    assert consume["MaximumBatchingWindowInSeconds"] == 2
    queue = consume["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert r[queue]["Type"] == "AWS::SQS::Queue"
    sink_events = r["SinkFunction"]["Properties"]["Events"]
    assert [e["Properties"]["Queue"] for e in sink_events.values()] == [getatt(queue)]


def test_step_functions_rule_and_error_action(full_template: dict[str, Any]) -> None:
    r = full_template["Resources"]
    payload = r["StartRule"]["Properties"]["TopicRulePayload"]
    assert payload["RuleDisabled"] is True
    assert payload["Description"] == "start a flow per job"
    role = getatt("StartRuleRole")
    assert payload["Actions"] == [
        {"StepFunctions": {"StateMachineName": getatt("FlowStateMachine", "Name"),
                           "RoleArn": role, "ExecutionNamePrefix": "job"}},
        {"StepFunctions": {"StateMachineName": {"Fn::Sub": "${AWS::StackName}-made_later"},
                           "RoleArn": role}}]
    assert payload["ErrorAction"] == {"Republish": {"Topic": "errors/${topic()}", "Qos": 0,
                                                    "RoleArn": role}}
    grants = [(s["Action"], s["Resource"]["Fn::Sub"]) for s in role_statements(
        full_template, "StartRule")]
    assert [a for a, _ in grants] == ["states:StartExecution"] * 2 + ["iot:Publish"]
    assert grants[2][1].endswith(":topic/errors/*")
    work = r["WorkFunction"]["Properties"]
    assert work["Timeout"] == 3 and work["EventInvokeConfig"]["MaximumRetryAttempts"] == 2
    publish = [s for s in work["Policies"][0]["Statement"] if s["Action"] == "iot:Publish"]
    assert publish[0]["Resource"]["Fn::Sub"].endswith(":topic/*")  # no backend policy
    assert "SiteBucket" not in r and "IdentityPool" in r


# -- what cannot be exported ---------------------------------------------------------------

LAMBDA_TO = {"sql": "SELECT * FROM 'a'", "actions": [{"lambda": {"functionArn": "work"}}]}

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown function", {"rules": {"R": {**LAMBDA_TO, "actions": [
        {"lambda": {"functionArn": "ghost"}}]}}}, "no function 'ghost'"),
    ("templated function", {"rules": {"R": {**LAMBDA_TO, "actions": [
        {"lambda": {"functionArn": "${fn}"}}]}}}, "chosen per message"),
    ("unknown table", {"rules": {"R": {**LAMBDA_TO, "actions": [
        {"dynamoDBv2": {"putItem": {"tableName": "nope"}}}]}}}, "no table 'nope'"),
    ("unknown stream", {"rules": {"R": {**LAMBDA_TO, "actions": [
        {"kinesis": {"streamName": "nope"}}]}}}, "no stream 'nope'"),
    ("bad sql", {"rules": {"R": {"sql": "SELEC * FROM 'a'"}}}, "rule 'R'"),
    ("bad rule name", {"rules": {"bad-name": LAMBDA_TO}}, "letters, digits"),
    ("short retention", {"streams": {"events": {"retentionHours": 2}}}, "retentionHours"),
    ("long timeout", {"functions": {"work": {"handler": "f:w", "timeout": 1000}}}, "900"),
    ("bad function name", {"functions": {"work.v2": {"handler": "f:w"}}}, "on AWS a function"),
    ("id collision", {"functions": {"a-b": {"handler": "f:w"}, "a_b": {"handler": "f:w"}}},
     "logical id"),
    ("same keys", {"tables": {"t": {"partitionKey": "k", "sortKey": "k"}}}, "must differ"),
    ("bad machine", {"stateMachines": {"m": {"StartAt": "Nowhere", "States": {}}}},
     "stateMachines.m"),
    ("machine calls ghost", {"stateMachines": {"m": {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "ghost", "End": True}}}}}, "no function 'ghost'"),
    ("policy without statements", {"policies": {"guest": {"Version": "2012-10-17"}}},
     "Statement"),
    ("huge batch", {"streams": {"events": {"consumers": [
        {"function": "consume", "batchSize": 20000}]}}}, "batchSize"),
]


@pytest.mark.parametrize(("changes", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_manifests_give_clear_errors(tmp_path: Path, changes: dict[str, Any],
                                         message: str) -> None:
    base = json.loads((write_app(tmp_path / "base") / "hubbub.json").read_text())
    for key, value in changes.items():
        base[key] = {**base.get(key, {}), **value} if key != "functions" else value
    if "functions" in changes:  # keep the rest of the manifest pointing at real functions
        base.update(stateMachines={}, rules={}, routes=[], streams={})
    root = tmp_path / "app"
    root.mkdir()
    (root / "hubbub.json").write_text(json.dumps(base))
    with pytest.raises(ConfigError, match=message):
        build_template(load_app(root))


def test_not_an_application(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a hubbub application"):
        load_app(tmp_path)


def test_lint_is_not_vacuous(chat_template: dict[str, Any]) -> None:
    broken = copy.deepcopy(chat_template)
    broken["Resources"]["ChatTable"]["Properties"]["BillingMode"] = "FREE"
    del broken["Resources"]["ChatStream"]  # still referenced by a rule, an event, a policy
    found = lint(broken)
    assert any("FREE" in m for m in found) and any("ChatStream" in m for m in found)
