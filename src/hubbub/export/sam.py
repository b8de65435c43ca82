"""An application as an AWS SAM template (``Transform: AWS::Serverless-2016-10-31``).

What maps to what (docs/aws.md has the whole table and what differs):

- function -> ``AWS::Serverless::Function`` running ``hubbub.aws.entry.handler``, which
  loads the application's handler (``HUBBUB_FUNCTION``) and binds ``hubbub.functions.sdk``
  to boto3 (``hubbub.aws.services``);
- table -> ``AWS::DynamoDB::Table`` (keys of type S, on-demand, TTL), stream ->
  ``AWS::Kinesis::Stream`` plus a ``Kinesis`` event on each consumer;
- rule -> ``AWS::IoT::TopicRule`` (``hubbub.export.rules``), policy -> ``AWS::IoT::Policy``,
  guest identity -> Cognito identity pool (``hubbub.export.identity``);
- state machine -> ``AWS::Serverless::StateMachine`` whose Tasks name the Lambda ARNs;
- routes -> ``AWS::Serverless::HttpApi`` with ``HttpApi`` events; static site -> S3 +
  CloudFront.

Permissions, per function: what its code reaches through the sdk (``hubbub.export.reach``
reads it): the tables, streams, functions and machines it names with literals, all of the
application's of a kind when it computes the name, and ``iot:Publish`` as the backend
policy allows when it publishes. Nothing outside the stack.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubbub.app import AppSpec, StreamDecl
from hubbub.aws.asl import rewrite_tasks
from hubbub.errors import ConfigError, HubbubError
from hubbub.export.cfn import (
    Ids,
    Json,
    arn,
    check_function_name,
    escape_sub,
    function_arn,
    getatt,
    machine_arn,
    physical,
    ref,
    sub,
)
from hubbub.export.identity import (
    iam_statements,
    identity_resources,
    policy_resources,
    site_resources,
)
from hubbub.export.reach import Reach, reach_of
from hubbub.export.rules import RuleTargets, assume_role, rule_resources

#: The shim's Lambda handler (``hubbub/aws/entry.py``, at the root of the code package).
HANDLER = "hubbub.aws.entry.handler"
RUNTIME = "python3.12"
#: Lambda's limits (Lambda quotas): timeout, async retries, env variables' total size.
MAX_TIMEOUT_S = 900
MAX_ASYNC_RETRIES = 2
MAX_ENV_BYTES = 4096
#: Kinesis keeps records 24 hours to 365 days (Kinesis quotas).
RETENTION_HOURS = (24, 8760)
#: Kinesis event source limits: batch size 1-10000, batching window 0-300 s.
MAX_BATCH = 10_000
MAX_WINDOW_S = 300


def _streams_json(streams: Mapping[str, str]) -> Json:
    # A JSON object written as an Fn::Sub template: {"chat":"${ChatStream}"}.
    body = ",".join(f'{json.dumps(escape_sub(n))}:"${{{lid}}}"' for n, lid in streams.items())
    return sub("{" + body + "}")


def _globals(app: AppSpec, t: RuleTargets, code_uri: str,
             settings: Mapping[str, Any]) -> Json:
    settings_json = json.dumps(dict(settings), separators=(",", ":"), ensure_ascii=False)
    if len(settings_json.encode()) > MAX_ENV_BYTES // 2:
        raise ConfigError("settings: too large for a Lambda environment variable "
                          f"(at most {MAX_ENV_BYTES // 2} bytes of JSON)")
    env: Json = {
        "HUBBUB_APP_DIR": "app",
        "HUBBUB_TABLES": _streams_json(t.tables),
        "HUBBUB_STREAMS": _streams_json(t.streams),
        "HUBBUB_FUNCTION_ARN_PREFIX": sub(
            "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
            "${AWS::StackName}-"),
        "HUBBUB_STATE_MACHINE_ARN_PREFIX": sub(
            "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
            "${AWS::StackName}-"),
        "HUBBUB_STATES_ROLE_ARN": getatt("StatesRole", "Arn"),
        "HUBBUB_IOT_ENDPOINT": ref("IotDataEndpoint"),
        "HUBBUB_SETTINGS": settings_json,
    }
    return {"Function": {"Runtime": RUNTIME, "Handler": HANDLER, "CodeUri": code_uri,
                         "MemorySize": 256, "Environment": {"Variables": env}}}


def _chosen(targets: set[str] | None, known: dict[str, str]) -> list[str]:
    """Logical ids of the targets a function names (all the app's when it computes them)."""
    return list(known.values()) if targets is None else [
        lid for name, lid in known.items() if name in targets]


def _named(targets: set[str] | None, arn_of: Any) -> list[Json]:
    return [arn_of("*")] if targets is None else [arn_of(n) for n in sorted(targets)]


def _function_policy(app: AppSpec, t: RuleTargets, reach: Reach) -> list[Json]:
    """The function's IAM statements: what its code reaches (hubbub.export.reach)."""
    statements: list[Json] = []
    tables = _chosen(reach.targets("table"), t.tables)
    if tables:
        statements.append({
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem",
                       "dynamodb:Query", "dynamodb:ConditionCheckItem"],
            "Resource": [getatt(lid, "Arn") for lid in tables]})
    streams = _chosen(reach.targets("put_record"), t.streams)
    if streams:
        statements.append({
            "Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
            "Resource": [getatt(lid, "Arn") for lid in streams]})
    if reach.uses("publish"):
        if app.backend_policy is not None:
            # Functions publish as the backend identity, held to the backend policy
            # (locally by hubbub.services; here by IAM).
            statements += iam_statements(app.policies[app.backend_policy],
                                         f"policies.{app.backend_policy}")
        else:  # locally an application without a backend policy publishes anywhere
            statements.append({"Effect": "Allow", "Action": "iot:Publish",
                               "Resource": arn("iot", "topic/*")})
        statements.append({"Effect": "Allow", "Action": "iot:DescribeEndpoint",
                           "Resource": "*"})
    if reach.uses("invoke"):
        statements.append({"Effect": "Allow", "Action": "lambda:InvokeFunction",
                           "Resource": _named(reach.targets("invoke"), function_arn)})
    if reach.uses("start_execution"):
        statements.append({"Effect": "Allow", "Action": "states:StartExecution",
                           "Resource": _named(reach.targets("start_execution"), machine_arn)})
    if reach.uses("create_state_machine"):
        statements += [
            {"Effect": "Allow",
             "Action": ["states:CreateStateMachine", "states:UpdateStateMachine",
                        "states:DescribeStateMachine"],
             "Resource": _named(reach.targets("create_state_machine"), machine_arn)},
            {"Effect": "Allow", "Action": "iam:PassRole",
             "Resource": getatt("StatesRole", "Arn")}]
    return [{"Version": "2012-10-17", "Statement": statements}] if statements else []


def _consumer_events(app: AppSpec, t: RuleTargets, resources: dict[str, Json]
                     ) -> tuple[dict[str, dict[str, Json]], list[str]]:
    """Kinesis events per consumer function (and SQS events for on-failure functions)."""
    events: dict[str, dict[str, Json]] = {}
    notes: list[str] = []
    for sname, s in app.streams.items():
        _check_stream(s)
        for c in s.consumers:
            where = f"streams.{sname}.consumers[{c.function}]"
            if not 1 <= c.batch_size <= MAX_BATCH:
                raise ConfigError(f"{where}: batchSize must be 1-{MAX_BATCH} on Kinesis")
            window = math.ceil(c.batching_window_ms / 1000)
            if not 0 <= window <= MAX_WINDOW_S:
                raise ConfigError(f"{where}: batchingWindowMs must be 0-{MAX_WINDOW_S * 1000}")
            if c.max_attempts < 1:
                raise ConfigError(f"{where}: maxAttempts must be at least 1")
            props: Json = {
                "Stream": getatt(t.streams[sname], "Arn"), "StartingPosition": "TRIM_HORIZON",
                "BatchSize": c.batch_size, "MaximumBatchingWindowInSeconds": window,
                "BisectBatchOnFunctionError": True,
                # hubbub counts attempts, Lambda counts retries after the first.
                "MaximumRetryAttempts": c.max_attempts - 1,
                "FunctionResponseTypes": ["ReportBatchItemFailures"]}
            if c.on_failure is not None:
                if c.on_failure not in app.functions:
                    raise ConfigError(f"{where}: onFailure names unknown function "
                                      f"{c.on_failure!r}")
                # A Kinesis event source cannot send failures to a function (only to SQS,
                # SNS or S3); a queue in between delivers the same record, in SQS' event.
                qid = t.functions[c.function] + Ids().make(sname, "FailureQueue")
                resources[qid] = {"Type": "AWS::SQS::Queue", "Properties": {
                    "MessageRetentionPeriod": 1_209_600, "SqsManagedSseEnabled": True}}
                props["DestinationConfig"] = {"OnFailure": {
                    "Type": "SQS", "Destination": getatt(qid, "Arn")}}
                events.setdefault(c.on_failure, {})[f"{qid}Event"] = {
                    "Type": "SQS", "Properties": {"Queue": getatt(qid, "Arn"), "BatchSize": 1}}
                notes.append(c.on_failure)
            events.setdefault(c.function, {})[Ids().make(sname, "Stream")] = {
                "Type": "Kinesis", "Properties": props}
    return events, notes


def _check_stream(s: StreamDecl) -> None:
    low, high = RETENTION_HOURS
    if not low <= s.retention_hours <= high:
        raise ConfigError(f"streams.{s.name}: retentionHours must be {low}-{high} on Kinesis")
    if s.shards < 1:
        raise ConfigError(f"streams.{s.name}: shards must be at least 1")


def _functions(app: AppSpec, t: RuleTargets, resources: dict[str, Json],
               reserved_concurrency: bool) -> None:
    events, _ = _consumer_events(app, t, resources)
    for i, r in enumerate(app.routes):
        events.setdefault(r.function, {})[f"Route{i}"] = {"Type": "HttpApi", "Properties": {
            "ApiId": ref("HttpApi"), "Method": r.method, "Path": r.path,
            "PayloadFormatVersion": "2.0"}}
    for name, spec in app.functions.items():
        check_function_name(name)
        timeout = math.ceil(spec.timeout)
        if timeout > MAX_TIMEOUT_S:
            raise ConfigError(f"function {name!r}: timeout is at most {MAX_TIMEOUT_S} s on Lambda")
        props: Json = {
            "FunctionName": physical(name),
            "Description": f"hubbub {app.name}: {name} ({spec.handler})",
            "Timeout": timeout,
            "Environment": {"Variables": {"HUBBUB_FUNCTION": name}},
            "Policies": _function_policy(app, t, reach_of(app.root, spec.handler)),
            # Rules invoke asynchronously; hubbub allows up to 5 retries, Lambda 2.
            "EventInvokeConfig": {"MaximumRetryAttempts": min(spec.retries, MAX_ASYNC_RETRIES)},
        }
        if reserved_concurrency:
            props["ReservedConcurrentExecutions"] = spec.concurrency
        if name in events:
            props["Events"] = events[name]
        resources[t.functions[name]] = {"Type": "AWS::Serverless::Function", "Properties": props}


def _tables(app: AppSpec, t: RuleTargets, resources: dict[str, Json]) -> None:
    for name, decl in app.tables.items():
        if decl.partition_key == decl.sort_key:
            raise ConfigError(f"tables.{name}: partitionKey and sortKey must differ on DynamoDB")
        props: Json = {
            "BillingMode": "PAY_PER_REQUEST",
            # hubbub keys may be strings or numbers; a DynamoDB key has one type: S.
            "AttributeDefinitions": [
                {"AttributeName": decl.partition_key, "AttributeType": "S"},
                {"AttributeName": decl.sort_key, "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": decl.partition_key, "KeyType": "HASH"},
                          {"AttributeName": decl.sort_key, "KeyType": "RANGE"}],
        }
        if decl.ttl_attribute:
            props["TimeToLiveSpecification"] = {"AttributeName": decl.ttl_attribute,
                                                "Enabled": True}
        # Deleting the stack must not delete the history ("nothing lost").
        resources[t.tables[name]] = {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain",
                                     "UpdateReplacePolicy": "Retain", "Properties": props}


def _streams(app: AppSpec, t: RuleTargets, resources: dict[str, Json]) -> None:
    for name, s in app.streams.items():
        _check_stream(s)
        resources[t.streams[name]] = {"Type": "AWS::Kinesis::Stream", "Properties": {
            "ShardCount": s.shards, "RetentionPeriodHours": s.retention_hours,
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}}}


def _machines(app: AppSpec, t: RuleTargets, resources: dict[str, Json]) -> None:
    from hubbub.workflows import StateMachine  # the ASL checker (lark etc.), only if needed

    resources["StatesRole"] = {"Type": "AWS::IAM::Role", "Properties": {
        "Description": "state machines (the manifest's and those functions create) "
                       "invoke the application's functions",
        "AssumeRolePolicyDocument": assume_role("states.amazonaws.com"),
        "Policies": [{"PolicyName": "invoke", "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "lambda:InvokeFunction",
                "Resource": [function_arn("*"), sub(
                    "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
                    "${AWS::StackName}-*:*")]}]}}]}}

    def placeholder(fn: str) -> str:
        if fn not in t.functions:
            raise ConfigError(f"no function {fn!r} in this application")
        return "${" + t.functions[fn] + "}"

    for name, definition in app.state_machines.items():
        where = f"stateMachines.{name}"
        try:
            StateMachine.from_definition(dict(definition), name)
        except HubbubError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        rewritten, used = rewrite_tasks(definition, placeholder)
        props: Json = {"Name": physical(name), "Type": "STANDARD", "Definition": rewritten,
                       "Role": getatt("StatesRole", "Arn")}
        if used:
            props["DefinitionSubstitutions"] = {
                t.functions[fn]: getatt(t.functions[fn], "Arn") for fn in used}
        resources[t.machines[name]] = {"Type": "AWS::Serverless::StateMachine",
                                       "Properties": props}


def build_template(app: AppSpec, *, code_uri: str = "lambda/",
                   settings: Mapping[str, Any] | None = None,
                   reserved_concurrency: bool = True) -> dict[str, Any]:
    """The SAM template of ``app``. ``settings`` override the manifest's (the config's
    ``[app]`` table); the manifest's own are read by the shim from the packaged manifest.
    Raises ``ConfigError`` naming what cannot be exported."""
    ids = Ids()
    t = RuleTargets(app, ids)
    resources: dict[str, Json] = {}
    _tables(app, t, resources)
    _streams(app, t, resources)
    _functions(app, t, resources, reserved_concurrency)
    _machines(app, t, resources)
    if app.routes:
        resources["HttpApi"] = {"Type": "AWS::Serverless::HttpApi", "Properties": {}}
    resources.update(rule_resources(app, ids, t))
    resources.update(policy_resources(app, ids))
    resources.update(identity_resources(app))
    resources.update(site_resources(app, with_api=bool(app.routes)))

    outputs: Json = {"IotEndpointLookup": {
        "Description": "The IoT data endpoint clients connect to; CloudFormation cannot read "
                       "it, look it up with this command",
        "Value": "aws iot describe-endpoint --endpoint-type iot:Data-ATS"}}
    if app.routes:
        outputs["ApiUrl"] = {"Description": "The HTTP API (also under /api/ on the site)",
                             "Value": sub("https://${HttpApi}.execute-api.${AWS::Region}."
                                          "${AWS::URLSuffix}/")}
    if "IdentityPool" in resources:
        outputs["IdentityPoolId"] = {"Description": "Cognito identity pool for guests",
                                     "Value": ref("IdentityPool")}
    if "SiteBucket" in resources:
        outputs["SiteBucket"] = {"Description": "Upload the web client here (aws s3 sync)",
                                 "Value": ref("SiteBucket")}
        outputs["SiteUrl"] = {"Description": "The chat, served by CloudFront",
                              "Value": sub("https://${SiteDistribution.DomainName}/")}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"hubbub application {app.name!r}, exported by hubbub export sam",
        "Parameters": {"IotDataEndpoint": {
            "Type": "String", "Default": "",
            "Description": "The account's iot:Data-ATS endpoint; empty: functions look it up "
                           "(iot:DescribeEndpoint) at cold start"}},
        "Globals": _globals(app, t, code_uri, dict(settings or {})),
        "Resources": resources,
        "Outputs": outputs,
    }


def dumps(template: Mapping[str, Any], path: Path | None = None) -> str:
    """The template as text: YAML for a ``.yaml``/``.yml`` path when PyYAML is installed,
    JSON otherwise (JSON is YAML too, so a ``.yaml`` file of JSON deploys all the same)."""
    if path is not None and path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            pass
        else:
            text: str = yaml.safe_dump(dict(template), sort_keys=False, allow_unicode=True,
                                       width=100)
            return text
    return json.dumps(template, indent=2, ensure_ascii=False) + "\n"
