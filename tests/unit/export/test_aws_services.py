"""The Lambda shim's sdk services (boto3) and entry point, against moto: what a chat
handler's ``sdk`` calls do on AWS."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from hubbub.app import BUILTIN_CHAT, load_app
from hubbub.errors import BadRequest, ConfigError, LimitExceeded, NotAuthorized, UsageError
from hubbub.functions.runtime import FunctionError
from hubbub.streams.base import PutResult
from hubbub.workflows import InvalidDefinition

pytest.importorskip("moto")
from botocore.exceptions import ClientError  # noqa: E402

from hubbub.aws import entry  # noqa: E402
from hubbub.aws.services import AwsConfig, AwsServices  # noqa: E402

ACCOUNT = "123456789012"
REGION = "us-east-1"
PREFIX_FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:stack-"
PREFIX_SM = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:stack-"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/states"


def env(**extra: str) -> dict[str, str]:
    """The environment the exported template gives a function (physical names stack-*)."""
    return {"HUBBUB_APP_DIR": str(BUILTIN_CHAT),
            "HUBBUB_TABLES": json.dumps({n: f"stack-{n}" for n in ("chat", "presence",
                                                                    "reactions")}),
            "HUBBUB_STREAMS": json.dumps({"chat": "stack-chat"}),
            "HUBBUB_FUNCTION_ARN_PREFIX": PREFIX_FN,
            "HUBBUB_STATE_MACHINE_ARN_PREFIX": PREFIX_SM,
            "HUBBUB_STATES_ROLE_ARN": ROLE,
            # moto serves iot-data only on data[-ats].iot.REGION.amazonaws.com
            "HUBBUB_IOT_ENDPOINT": f"data-ats.iot.{REGION}.amazonaws.com",
            "HUBBUB_SETTINGS": json.dumps({"welcomeHistory": 2}), **extra}


def create_chat_resources(aws: Any) -> None:
    ddb = aws("dynamodb")
    for decl in load_app().tables.values():
        ddb.create_table(
            TableName=f"stack-{decl.name}", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": decl.partition_key, "KeyType": "HASH"},
                       {"AttributeName": decl.sort_key, "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": decl.partition_key, "AttributeType": "S"},
                                  {"AttributeName": decl.sort_key, "AttributeType": "S"}])
    aws("kinesis").create_stream(StreamName="stack-chat", ShardCount=2)


def published(topic_prefix: str = "") -> list[tuple[str, Any]]:
    from moto.iotdata.models import iotdata_backends

    out = []
    for topic, payload in iotdata_backends[ACCOUNT][REGION].published_payloads:
        if topic.startswith(topic_prefix):
            out.append((topic, json.loads(payload)))
    return out


@pytest.fixture
def services(aws: Any) -> AwsServices:
    create_chat_resources(aws)
    return AwsServices(AwsConfig.from_env(env()), aws)


def test_config_from_env_and_settings(services: AwsServices) -> None:
    assert services.config.tables["chat"] == "stack-chat"
    assert services.settings["welcomeHistory"] == 2  # the override
    assert services.settings["defaultRoom"] == "lobby"  # the manifest's
    with pytest.raises(ConfigError, match="HUBBUB_TABLES"):
        AwsConfig.from_env(env(HUBBUB_TABLES="{nope"))
    with pytest.raises(ConfigError, match="HUBBUB_SETTINGS"):
        AwsConfig.from_env(env(HUBBUB_SETTINGS="[1]"))
    with pytest.raises(ConfigError, match="not a hubbub application"):
        AwsConfig.from_env(env(HUBBUB_APP_DIR="/nonexistent"))


async def test_publish_reaches_iot_core(services: AwsServices) -> None:
    await services.publish("chat/in/c1", b'{"type":"notice"}', 1, False)
    assert published("chat/in/") == [("chat/in/c1", {"type": "notice"})]
    for bad in ["chat/+/x", "", "a/#"]:
        with pytest.raises(BadRequest):
            await services.publish(bad, b"{}", 0, False)
    with pytest.raises(BadRequest, match="QoS"):
        await services.publish("chat/in/c1", b"{}", 2, False)


async def test_tables_use_physical_names(services: AwsServices, aws: Any) -> None:
    await services.table("chat").put({"room": "lobby", "id": "1-a", "text": "hi"})
    got = aws("dynamodb").get_item(TableName="stack-chat",
                                   Key={"room": {"S": "lobby"}, "id": {"S": "1-a"}})
    assert got["Item"]["text"] == {"S": "hi"}
    assert services.table("chat") is services.table("chat")
    with pytest.raises(UsageError, match="no table 'nope'"):
        services.table("nope")


async def test_put_record_reaches_kinesis(services: AwsServices, aws: Any) -> None:
    result = await services.put_record("chat", "lobby", b'{"typing":true}')
    assert isinstance(result, PutResult) and result.shard_id.startswith("shardId-")
    kinesis = aws("kinesis")
    it = kinesis.get_shard_iterator(StreamName="stack-chat", ShardId=result.shard_id,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = kinesis.get_records(ShardIterator=it)["Records"]
    assert [(r["PartitionKey"], r["Data"]) for r in records] == [("lobby", b'{"typing":true}')]
    with pytest.raises(UsageError, match="no stream"):
        await services.put_record("nope", "k", b"x")


DEFINITION = {"StartAt": "Words", "States": {
    "Words": {"Type": "Task", "Resource": "words", "Next": "Each"},
    "Each": {"Type": "Map", "ItemProcessor": {"StartAt": "Keep", "States": {
        "Keep": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": "not_stopword", "Payload.$": "$"},
                 "End": True}}}, "End": True}}}


async def test_create_and_start_state_machines(services: AwsServices, aws: Any) -> None:
    created = await services.create_state_machine("chat-top-5", DEFINITION, "EXPRESS")
    assert created["stateMachineArn"] == PREFIX_SM + "chat-top-5"
    assert isinstance(created["creationDate"], float)
    sfn = aws("stepfunctions")
    described = sfn.describe_state_machine(stateMachineArn=created["stateMachineArn"])
    stored = json.loads(described["definition"])
    assert stored["States"]["Words"]["Resource"] == PREFIX_FN + "words"
    keep = stored["States"]["Each"]["ItemProcessor"]["States"]["Keep"]
    assert keep["Parameters"]["FunctionName"] == PREFIX_FN + "not_stopword"
    assert described["roleArn"] == ROLE and described["type"] == "EXPRESS"
    assert DEFINITION["States"]["Words"]["Resource"] == "words"  # the caller's is untouched
    started = await services.start_execution("chat-top-5", {"room": "lobby"}, "run-1")
    assert started["executionArn"].endswith(":stack-chat-top-5:run-1")
    assert isinstance(started["startDate"], float)
    with pytest.raises(BadRequest):
        await services.start_execution("absent", None, None)


async def test_bad_state_machines_are_refused_before_aws(services: AwsServices) -> None:
    with pytest.raises(InvalidDefinition):
        await services.create_state_machine("m", {"StartAt": "Nowhere", "States": {}})
    with pytest.raises(BadRequest, match="no function 'ghost'"):
        await services.create_state_machine("m", {"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": "ghost", "End": True}}})
    with pytest.raises(BadRequest, match="not JSON"):
        await services.create_state_machine("m", "{nope")
    with pytest.raises(BadRequest, match="STANDARD or EXPRESS"):
        await services.create_state_machine("m", DEFINITION, "QUICK")


class FakeClient:
    """A boto3 client stand-in for what moto cannot run (Lambda needs Docker there)."""

    def __init__(self, **ops: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.ops = ops

    def __getattr__(self, op: str) -> Any:
        def call(**params: Any) -> Any:
            self.calls.append((op, params))
            result = self.ops[op]
            if isinstance(result, Exception):
                raise result
            return result(**params) if callable(result) else result
        return call


def error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code + "!"}}, "Op")


def fake_services(**clients: FakeClient) -> AwsServices:
    return AwsServices(AwsConfig.from_env(env()), lambda service, **_: clients[service])


async def test_invoke_maps_to_lambda_and_its_errors() -> None:
    fn = FakeClient(invoke=lambda **p: {"StatusCode": 200,
                                        "Payload": io.BytesIO(p["Payload"][::-1])})
    assert await fake_services(**{"lambda": fn}).invoke("words", "olleh") == "hello"
    assert fn.calls[0][1]["FunctionName"] == PREFIX_FN + "words"
    assert fn.calls[0][1]["InvocationType"] == "RequestResponse"
    failing = FakeClient(invoke={
        "StatusCode": 200, "FunctionError": "Unhandled",
        "ResponseMetadata": {"RequestId": "req-1"},
        "Payload": io.BytesIO(b'{"errorType":"KeyError","errorMessage":"room"}')})
    with pytest.raises(FunctionError) as info:
        await fake_services(**{"lambda": failing}).invoke("words", {})
    assert (info.value.error_type, info.value.request_id) == ("KeyError", "req-1")
    throttled = FakeClient(invoke=error("TooManyRequestsException"))
    with pytest.raises(LimitExceeded):
        await fake_services(**{"lambda": throttled}).invoke(PREFIX_FN + "x", {})
    assert throttled.calls[0][1]["FunctionName"] == PREFIX_FN + "x"  # an ARN is kept


async def test_existing_machine_is_updated_and_limits_map() -> None:
    import datetime

    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    sfn = FakeClient(create_state_machine=error("StateMachineAlreadyExists"),
                     update_state_machine={"updateDate": when},
                     start_execution=error("ExecutionLimitExceeded"))
    services = fake_services(stepfunctions=sfn)
    got = await services.create_state_machine("chat-stats", DEFINITION)
    assert got == {"stateMachineArn": PREFIX_SM + "chat-stats",
                   "creationDate": when.timestamp()}
    assert [c[0] for c in sfn.calls] == ["create_state_machine", "update_state_machine"]
    with pytest.raises(LimitExceeded):  # the chat's commands answer "busy" on this
        await services.start_execution("chat-stats", {}, None)


async def test_iot_endpoint_is_looked_up_once_when_not_given() -> None:
    made: list[tuple[str, dict[str, Any]]] = []
    iot = FakeClient(describe_endpoint={"endpointAddress": "abc-ats.iot.eu-west-1.amazonaws.com"})
    data = FakeClient(publish={})

    def factory(service: str, **kwargs: Any) -> Any:
        made.append((service, kwargs))
        return {"iot": iot, "iot-data": data}[service]

    services = AwsServices(AwsConfig.from_env(env(HUBBUB_IOT_ENDPOINT="")), factory)
    await services.publish("chat/in/c1", b"{}", 1, False)
    await services.publish("chat/in/c2", b"{}", 0, True)
    assert made == [("iot", {}),
                    ("iot-data", {"endpoint_url": "https://abc-ats.iot.eu-west-1.amazonaws.com"})]
    assert iot.calls == [("describe_endpoint", {"endpointType": "iot:Data-ATS"})]
    assert data.calls[1] == ("publish", {"topic": "chat/in/c2", "qos": 0, "retain": True,
                                         "payload": b"{}"})
    refused = FakeClient(publish=error("ForbiddenException"))
    with pytest.raises(NotAuthorized):
        await fake_services(**{"iot-data": refused}).publish("chat/out", b"{}", 0, False)


def lambda_context() -> Any:
    class Context:
        function_name = "stack-history"
        aws_request_id = "req"
    return Context()


def test_entry_runs_the_history_handler(services: AwsServices, monkeypatch: Any) -> None:
    monkeypatch.setattr(entry, "_runtime", None)
    for k, v in env(HUBBUB_FUNCTION="history").items():
        monkeypatch.setenv(k, v)
    table = services.table("chat")
    import asyncio

    async def fill() -> None:
        for i in range(3):
            await table.put({"type": "message", "room": "lobby", "id": f"17000{i}-x",
                             "user": "ann", "text": f"m{i}", "expiresAt": 4_000_000_000})
    asyncio.run(fill())
    event = {"version": "2.0", "routeKey": "GET /api/rooms/{room}/messages",
             "pathParameters": {"room": "lobby"}, "queryStringParameters": {"limit": "2"}}
    response = entry.handler(event, lambda_context())
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert [m["text"] for m in body["messages"]] == ["m1", "m2"]
    assert body["before"] == "170001-x"
    bad = entry.handler({"pathParameters": {"room": "../x"}}, lambda_context())
    assert bad["statusCode"] == 400


def test_entry_runs_the_chat_join(services: AwsServices) -> None:
    runtime = entry.Runtime.from_env(env(HUBBUB_FUNCTION="chat"), services._client_factory)
    result = runtime({"type": "join", "room": "lobby", "user": "ann", "clientId": "c1",
                      "timestamp": 1_700_000_000_000}, lambda_context())
    assert result == {"ok": "join"}
    welcome = published("chat/in/c1")
    assert len(welcome) == 1 and welcome[0][1]["type"] == "welcome"
    assert welcome[0][1]["presence"] == [{"clientId": "c1", "user": "ann"}]
    assert published("chat/pub/lobby")[0][1]["type"] == "presence"


def test_entry_refuses_an_unknown_function(aws: Any) -> None:
    with pytest.raises(ConfigError, match="HUBBUB_FUNCTION='ghost'"):
        entry.Runtime.from_env(env(HUBBUB_FUNCTION="ghost"), aws)
