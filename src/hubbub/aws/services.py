"""``hubbub.functions.sdk.Services`` on boto3: what a handler's sdk calls do on Lambda.

One call each: ``publish`` -> iot-data ``Publish``; ``table(name)`` -> a ``DynamoTable``
(``hubbub.aws.dynamodb``); ``put_record`` -> Kinesis ``PutRecord``; ``start_execution``
-> Step Functions ``StartExecution``; ``create_state_machine`` -> ``CreateStateMachine``
(or ``UpdateStateMachine`` when it exists: hubbub's create replaces); ``invoke`` ->
Lambda ``Invoke`` (RequestResponse). AWS errors become hubbub's: throttling is
``LimitExceeded``, a refused request ``BadRequest``, IAM's refusal ``NotAuthorized``.

The export names every function and state machine ``{stack}-{name}``; the template hands
the ARN prefixes, the tables' and streams' physical names and the settings to the
function in its environment (``AwsConfig.from_env``).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from hubbub.app import AppSpec, load_app
from hubbub.aws.asl import rewrite_tasks
from hubbub.aws.dynamodb import DynamoTable
from hubbub.errors import BadRequest, ConfigError, LimitExceeded, NotAuthorized, UsageError
from hubbub.functions.runtime import FunctionError
from hubbub.mqtt.topics import TopicError, validate_topic_name
from hubbub.streams.base import PutResult

ClientFactory = Callable[..., Any]  # boto3.client-like: (service_name, **kwargs) -> client

_THROTTLED = {"ThrottlingException", "TooManyRequestsException", "ExecutionLimitExceeded",
              "ProvisionedThroughputExceededException", "LimitExceededException"}
_REFUSED = {"AccessDeniedException", "ForbiddenException", "UnauthorizedException"}


def _json_env(env: Mapping[str, str], key: str) -> dict[str, Any]:
    raw = env.get(key) or "{}"
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"environment {key}: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"environment {key}: expected a JSON object")
    return value


@dataclass(frozen=True)
class AwsConfig:
    """Where this function's application and its resources are."""

    app: AppSpec
    tables: Mapping[str, str] = field(default_factory=dict)  # manifest name -> physical
    streams: Mapping[str, str] = field(default_factory=dict)
    function_arn_prefix: str = ""  # arn:aws:lambda:REGION:ACCOUNT:function:{stack}-
    state_machine_arn_prefix: str = ""  # arn:aws:states:REGION:ACCOUNT:stateMachine:{stack}-
    states_role_arn: str | None = None
    iot_endpoint: str | None = None  # empty: iot:DescribeEndpoint at first publish
    settings: Mapping[str, Any] = field(default_factory=dict)  # overrides the manifest's

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AwsConfig:
        """Read what the exported template puts in the function's environment."""
        env = os.environ if env is None else env
        root = Path(env.get("LAMBDA_TASK_ROOT", "."))
        app = load_app(root / env.get("HUBBUB_APP_DIR", "app"))
        return cls(app, _json_env(env, "HUBBUB_TABLES"), _json_env(env, "HUBBUB_STREAMS"),
                   env.get("HUBBUB_FUNCTION_ARN_PREFIX", ""),
                   env.get("HUBBUB_STATE_MACHINE_ARN_PREFIX", ""),
                   env.get("HUBBUB_STATES_ROLE_ARN") or None,
                   env.get("HUBBUB_IOT_ENDPOINT") or None,
                   _json_env(env, "HUBBUB_SETTINGS"))


def _error(exc: ClientError, what: str) -> BaseException:
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", str(exc))
    if code in _THROTTLED:
        return LimitExceeded(f"{what}: {code}: {message}")
    if code in _REFUSED:
        return NotAuthorized(f"{what}: {code}: {message}")
    if code == "StateMachineDoesNotExist":
        from hubbub.workflow_wiring import StateMachineNotFound
        return StateMachineNotFound(f"{what}: {message}")
    if code == "ExecutionAlreadyExists":
        from hubbub.workflow_wiring import ExecutionAlreadyExists
        return ExecutionAlreadyExists(f"{what}: {message}")
    if code.startswith("Invalid") or code in ("ValidationException",
                                              "ResourceNotFoundException"):
        return BadRequest(f"{what}: {code}: {message}")
    return exc  # type: ignore[no-any-return]  # botocore is untyped


class AwsServices:
    """The services a handler reaches through ``hubbub.functions.sdk``, on AWS."""

    def __init__(self, config: AwsConfig, client: ClientFactory | None = None) -> None:
        if client is None:
            import boto3
            client = boto3.client
        self.config = config
        self.settings: Mapping[str, Any] = {**config.app.settings, **config.settings}
        self._client_factory = client
        self._clients: dict[str, Any] = {}
        self._tables: dict[str, DynamoTable] = {}

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            kwargs: dict[str, Any] = {}
            if service == "iot-data":
                endpoint = self.config.iot_endpoint or self._client("iot").describe_endpoint(
                    endpointType="iot:Data-ATS")["endpointAddress"]
                kwargs["endpoint_url"] = f"https://{endpoint}"
            self._clients[service] = self._client_factory(service, **kwargs)
        return self._clients[service]

    async def _call(self, service: str, op: str, what: str, **params: Any) -> Any:
        try:
            return await asyncio.to_thread(lambda: getattr(self._client(service), op)(**params))
        except ClientError as exc:
            raise _error(exc, what) from None

    def _function_arn(self, function: str) -> str:
        return function if function.startswith("arn:") else self.config.function_arn_prefix \
            + function

    def _machine_arn(self, machine: str) -> str:
        return machine if machine.startswith("arn:") else self.config.state_machine_arn_prefix \
            + machine

    # -- sdk.Services ------------------------------------------------------------------

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        try:
            validate_topic_name(topic)
        except TopicError as exc:
            raise BadRequest(f"cannot publish to {topic!r}: {exc}") from None
        if qos not in (0, 1):
            raise BadRequest("IoT Core publishes at QoS 0 or 1")
        await self._call("iot-data", "publish", f"publish to {topic!r}", topic=topic,
                         qos=qos, retain=retain, payload=payload)

    def table(self, name: str) -> DynamoTable:
        if name not in self._tables:
            decl = self.config.app.tables.get(name)
            if decl is None:
                raise UsageError(f"no table {name!r} in this application")
            physical = self.config.tables.get(name, name)
            self._tables[name] = DynamoTable(decl, self._client("dynamodb"),
                                             physical_name=physical)
        return self._tables[name]

    async def put_record(self, stream: str, partition_key: str, data: bytes) -> PutResult:
        if stream not in self.config.app.streams:
            raise UsageError(f"no stream {stream!r} in this application")
        got = await self._call("kinesis", "put_record", f"put a record on {stream!r}",
                               StreamName=self.config.streams.get(stream, stream),
                               PartitionKey=partition_key, Data=data)
        return PutResult(got["ShardId"], got["SequenceNumber"])

    async def start_execution(self, state_machine: str, input: Any,
                              name: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"stateMachineArn": self._machine_arn(state_machine),
                                  "input": json.dumps({} if input is None else input)}
        if name is not None:
            params["name"] = name
        got = await self._call("stepfunctions", "start_execution",
                               f"start {state_machine!r}", **params)
        return {"executionArn": got["executionArn"], "startDate": got["startDate"].timestamp()}

    async def create_state_machine(self, name: str, definition: Any,
                                   type: str = "STANDARD") -> dict[str, Any]:
        from hubbub.workflows import StateMachine  # validates as locally, same errors

        if type not in ("STANDARD", "EXPRESS"):
            raise BadRequest(f"state machine type must be STANDARD or EXPRESS, not {type!r}")
        if self.config.states_role_arn is None:
            raise UsageError("no role for state machines (HUBBUB_STATES_ROLE_ARN)")
        if isinstance(definition, str):
            try:
                definition = json.loads(definition)
            except ValueError as exc:
                raise BadRequest(f"state machine {name!r}: definition is not JSON: {exc}") \
                    from None
        StateMachine.from_definition(dict(definition), name)

        def arn_of(fn: str) -> str:
            if fn not in self.config.app.functions:
                raise ConfigError(f"no function {fn!r} in this application")
            return self._function_arn(fn)

        try:
            rewritten, _ = rewrite_tasks(definition, arn_of)
        except ConfigError as exc:
            raise BadRequest(str(exc)) from None
        text = json.dumps(rewritten)
        arn = self._machine_arn(name)
        try:
            got = await asyncio.to_thread(
                self._client("stepfunctions").create_state_machine,
                name=arn.rsplit(":", 1)[-1], definition=text,
                roleArn=self.config.states_role_arn, type=type)
            return {"stateMachineArn": got["stateMachineArn"],
                    "creationDate": got["creationDate"].timestamp()}
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "StateMachineAlreadyExists":
                raise _error(exc, f"create state machine {name!r}") from None
        got = await self._call("stepfunctions", "update_state_machine",
                               f"update state machine {name!r}", stateMachineArn=arn,
                               definition=text, roleArn=self.config.states_role_arn)
        return {"stateMachineArn": arn, "creationDate": got["updateDate"].timestamp()}

    async def invoke(self, function: str, event: Any) -> Any:
        got = await self._call("lambda", "invoke", f"invoke {function!r}",
                               FunctionName=self._function_arn(function),
                               InvocationType="RequestResponse",
                               Payload=json.dumps(event).encode())
        body = got["Payload"].read()
        result = json.loads(body) if body else None
        if got.get("FunctionError"):
            request_id = got.get("ResponseMetadata", {}).get("RequestId", "-")
            err = result if isinstance(result, dict) else {}
            raise FunctionError(function, request_id, str(err.get("errorType", "Unhandled")),
                                str(err.get("errorMessage", result)))
        return result
