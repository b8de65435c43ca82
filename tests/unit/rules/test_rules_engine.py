from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from hubbub.rules import ActionOutcome, RulesEngine, RuleSpec


class FakeSink:
    def __init__(self, fail: set[str] | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail = fail or set()

    def _record(self, *call: Any) -> None:
        self.calls.append(call)
        if call[0] in self.fail:
            raise RuntimeError(f"{call[0]} is down")

    async def republish(self, topic: str, payload: bytes, qos: int) -> None:
        self._record("republish", topic, payload, qos)

    async def invoke_event(self, function: str, event: Any) -> None:
        self._record("invoke", function, event)

    async def put_record(self, stream: str, partition_key: str, data: bytes) -> None:
        self._record("put_record", stream, partition_key, data)

    async def put_item(self, table: str, item: dict[str, Any]) -> None:
        self._record("put_item", table, item)

    async def start_execution(self, state_machine: str, input: Any, name: str | None) -> None:
        self._record("start_execution", state_machine, input, name)


CHAT_RULES = {
    "chat_function": {
        "sql": "SELECT *, clientId() AS clientId, timestamp() AS timestamp FROM 'chat/out'",
        "actions": [{"lambda": {"functionName": "chat"}}]},
    "chat_republish": {
        "sql": "SELECT *, clientId() AS clientId, timestamp() AS timestamp FROM 'chat/out' "
               "WHERE NOT isUndefined(message) AND NOT isUndefined(room)",
        "actions": [{"republish": {"topic": "chat/pub/${room}", "qos": 1}}],
        "errorAction": {"lambda": {"functionName": "errors"}}},
    "presence": {"sql": "SELECT * FROM '$aws/events/presence/#'",
                 "actions": [{"lambda": {"functionName": "chat"}}]},
    "chat_store": {"sql": "SELECT * FROM 'chat/pub/#'",
                   "actions": [{"dynamoDBv2": {"putItem": {"tableName": "chat"}}}]},
    "chat_stream": {
        "sql": "SELECT *, clientId() AS clientId, timestamp() AS timestamp FROM 'chat/stream'",
        "actions": [{"kinesis": {"streamName": "chat", "partitionKey": "${topic()}"}}]},
    "off": {"sql": "SELECT * FROM 'chat/out'", "ruleDisabled": True,
            "actions": [{"lambda": {"functionName": "never"}}]},
}


def make_engine(sink: FakeSink, rules: dict[str, Any] | None = None) -> RulesEngine:
    specs = {n: RuleSpec.from_payload(n, p) for n, p in (rules or CHAT_RULES).items()}
    counter = iter(range(1000))
    return RulesEngine(specs, sink, clock_ms=lambda: 1234,
                       uuid=lambda: f"uuid-{next(counter)}")


async def publish(engine: RulesEngine, topic: str, payload: Any,
                  client_id: str | None = "c1") -> list[ActionOutcome]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await engine.on_publish(topic, data, client_id=client_id, principal=None, qos=1)


def test_matches_uses_the_from_filters_of_enabled_rules() -> None:
    engine = make_engine(FakeSink())
    assert engine.matches("chat/out")
    assert engine.matches("chat/pub/lobby")
    assert engine.matches("$aws/events/presence/connected/c1")
    assert not engine.matches("chat/in/c1")
    assert not engine.matches("other")


async def test_chat_message_runs_function_and_republish() -> None:
    sink = FakeSink()
    engine = make_engine(sink)
    msg = {"room": "lobby", "message": {"user": "ann", "text": "hi"}}
    outcomes = await publish(engine, "chat/out", msg)
    assert all(o.ok for o in outcomes) and len(outcomes) == 2
    expected = {**msg, "clientId": "c1", "timestamp": 1234}
    assert ("invoke", "chat", expected) in sink.calls
    republished = [c for c in sink.calls if c[0] == "republish"]
    assert len(republished) == 1
    _, topic, payload, qos = republished[0]
    assert (topic, json.loads(payload), qos) == ("chat/pub/lobby", expected, 1)


async def test_where_false_skips_the_rule() -> None:
    sink = FakeSink()
    await publish(make_engine(sink), "chat/out", {"connected": True, "path": "/lobby"})
    assert [c[0] for c in sink.calls] == ["invoke"]


async def test_kinesis_and_dynamo_actions() -> None:
    sink = FakeSink()
    engine = make_engine(sink)
    await publish(engine, "chat/stream", {"typing": True})
    (call,) = sink.calls
    assert call[:3] == ("put_record", "chat", "chat/stream")
    assert json.loads(call[3]) == {"typing": True, "clientId": "c1", "timestamp": 1234}
    sink.calls.clear()
    await publish(engine, "chat/pub/lobby", {"room": "lobby"})
    assert sink.calls == [("put_item", "chat", {"room": "lobby"})]


async def test_error_action_gets_iot_cores_error_message() -> None:
    sink = FakeSink(fail={"republish"})
    engine = make_engine(sink)
    payload = {"room": "lobby", "message": "x"}
    outcomes = await publish(engine, "chat/out", payload)
    failed = [o for o in outcomes if not o.ok]
    assert [(o.rule, o.action, o.resource) for o in failed] == [
        ("chat_republish", "republish", "chat/pub/lobby")]
    errors = [c for c in sink.calls if c[:2] == ("invoke", "errors")]
    assert len(errors) == 1
    event = errors[0][2]
    assert event == {
        "ruleName": "chat_republish", "topic": "chat/out", "clientId": "c1",
        "base64OriginalPayload": base64.b64encode(json.dumps(payload).encode()).decode(),
        "failures": [{"failedAction": "RepublishAction", "failedResource": "chat/pub/lobby",
                      "errorMessage": "RuntimeError: republish is down"}]}
    assert [o for o in outcomes if o.is_error_action][0].ok


async def test_template_that_renders_a_wildcard_topic_fails_the_action() -> None:
    # A room of '+' must not turn the republish into a wildcard (a flaw of the original demo).
    sink = FakeSink()
    outcomes = await publish(make_engine(sink), "chat/out", {"room": "+", "message": "x"})
    bad = [o for o in outcomes if not o.ok]
    assert len(bad) == 1 and "wildcards" in (bad[0].error or "")
    assert not [c for c in sink.calls if c[0] == "republish"]
    assert [c for c in sink.calls if c[:2] == ("invoke", "errors")]


async def test_binary_payload() -> None:
    sink = FakeSink()
    rules = {"bin": {"sql": "SELECT * FROM 'raw'", "actions": [
        {"republish": {"topic": "raw/out"}}, {"lambda": {"functionName": "f"}}]}}
    raw = b"\x00\x01\xfe"
    await publish(make_engine(sink, rules), "raw", raw)
    assert ("republish", "raw/out", raw, 0) in sink.calls
    assert ("invoke", "f", base64.b64encode(raw).decode()) in sink.calls


async def test_dynamo_needs_an_object() -> None:
    sink = FakeSink()
    rules = {"d": {"sql": "SELECT VALUE n FROM 'x'",
                   "actions": [{"dynamoDBv2": {"putItem": {"tableName": "t"}}}]}}
    (outcome,) = await publish(make_engine(sink, rules), "x", {"n": 1})
    assert not outcome.ok and "JSON object" in (outcome.error or "")


async def test_step_functions_name_prefix_and_default_partition_key() -> None:
    sink = FakeSink()
    rules = {"s": {"sql": "SELECT a FROM 'x'", "actions": [
        {"stepFunctions": {"stateMachineName": "m-${topic()}", "executionNamePrefix": "p-"}},
        {"kinesis": {"streamName": "s"}}]}}
    await publish(make_engine(sink, rules), "x", {"a": 1})
    assert ("start_execution", "m-x", {"a": 1}, "p-uuid-0") in sink.calls \
        or ("start_execution", "m-x", {"a": 1}, "p-uuid-1") in sink.calls
    (rec,) = [c for c in sink.calls if c[0] == "put_record"]
    assert rec[2].startswith("uuid-")


async def test_basic_ingest_runs_only_the_named_rule() -> None:
    sink = FakeSink()
    engine = make_engine(sink)
    assert engine.matches("$aws/rules/chat_function/anything")
    await publish(engine, "$aws/rules/chat_function/chat/out", {"room": "r", "message": "m"})
    assert [c[:2] for c in sink.calls] == [("invoke", "chat")]
    assert not engine.matches("$aws/rules/off/x")
    assert not engine.matches("$aws/rules/nosuch/x")


async def test_no_rule_no_work() -> None:
    sink = FakeSink()
    assert await publish(make_engine(sink), "nobody/listens", {"a": 1}) == []
    assert sink.calls == []


async def test_garbage_payloads_never_raise() -> None:
    sink = FakeSink()
    engine = make_engine(sink)
    deep = ('{"room":' * 2000 + '"x"' + "}" * 2000).encode()
    for raw in (b"", b"\xff\xfe", b"[1,2", b"null", b"1e999", deep):
        await publish(engine, "chat/out", raw)
    # every call still went to the chat function; nothing was republished from garbage
    assert {c[0] for c in sink.calls} == {"invoke"}


async def test_actions_of_a_rule_run_concurrently() -> None:
    gate = asyncio.Event()

    class GatedSink(FakeSink):
        async def invoke_event(self, function: str, event: Any) -> None:
            await gate.wait()  # only returns once the republish (listed later) has run
            await super().invoke_event(function, event)

        async def republish(self, topic: str, payload: bytes, qos: int) -> None:
            gate.set()
            await super().republish(topic, payload, qos)

    sink = GatedSink()
    rules = {"both": {"sql": "SELECT * FROM 'x'", "actions": [
        {"lambda": {"functionName": "f"}}, {"republish": {"topic": "y"}}]}}
    outcomes = await asyncio.wait_for(publish(make_engine(sink, rules), "x", {"a": 1}), 5)
    assert all(o.ok for o in outcomes)


@pytest.mark.parametrize("client_id", [None, "dev-1"])
async def test_error_message_client_id(client_id: str | None) -> None:
    sink = FakeSink(fail={"invoke"})
    rules = {"r": {"sql": "SELECT * FROM 'x'", "actions": [{"lambda": {"functionName": "f"}}],
                   "errorAction": {"republish": {"topic": "errors/${topic()}"}}}}
    await publish(make_engine(sink, rules), "x", {"a": 1}, client_id=client_id)
    (err,) = [c for c in sink.calls if c[0] == "republish"]
    assert err[1] == "errors/x"
    assert json.loads(err[2])["clientId"] == (client_id or "n/a")


async def test_dispatch_evaluates_at_once_and_returns_nothing_when_no_rule_acts() -> None:
    """The broker waits on what dispatch returns: None means no task, nothing to wait."""
    sink = FakeSink()
    engine = make_engine(sink)
    kw: dict[str, Any] = {"client_id": "c1", "principal": None, "qos": 1}
    assert engine.dispatch("chat/in/c1", b"{}", **kw) is None  # no rule matches
    only_republish = {"r": CHAT_RULES["chat_republish"]}
    engine = make_engine(sink, only_republish)
    assert engine.dispatch("chat/out", b'{"room": "a"}', **kw) is None  # WHERE false
    assert engine.dispatch("chat/out", b"not json", **kw) is None
    pending = engine.dispatch("chat/out", b'{"room": "a", "message": "m"}', **kw)
    assert pending is not None and sink.calls == []  # evaluated, actions not yet run
    outcomes = await pending
    assert [(o.action, o.resource, o.ok) for o in outcomes] == [
        ("republish", "chat/pub/a", True)]
    assert sink.calls[0][:2] == ("republish", "chat/pub/a")


async def test_dispatch_runs_every_acting_rule_once() -> None:
    sink = FakeSink()
    engine = make_engine(sink)
    pending = engine.dispatch("chat/out", b'{"room": "a", "message": "m"}', client_id="c1",
                              principal=None, qos=1)
    assert pending is not None
    outcomes = await pending
    assert sorted(o.rule for o in outcomes) == ["chat_function", "chat_republish"]
    assert sorted(c[0] for c in sink.calls) == ["invoke", "republish"]


async def test_an_evaluation_failure_goes_to_the_error_action_through_dispatch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from hubbub.rules.statement import Statement

    def broken(self: Statement, ctx: Any) -> None:
        raise RuntimeError("evaluator bug")

    sink = FakeSink()
    engine = make_engine(sink, {"r": CHAT_RULES["chat_republish"]})
    monkeypatch.setattr(Statement, "evaluate", broken)
    pending = engine.dispatch("chat/out", b'{"room": "a"}', client_id="c1",
                              principal=None, qos=1)  # raises nothing here
    assert pending is not None
    outcomes = await pending
    assert [(o.action, o.resource, o.is_error_action) for o in outcomes] == [
        ("lambda", "errors", True)]
    event = sink.calls[0][2]
    assert event["failures"][0]["failedAction"] == "Evaluation"
    assert "evaluator bug" in event["failures"][0]["errorMessage"]


def test_the_match_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from hubbub.rules import engine as engine_module

    monkeypatch.setattr(engine_module, "MATCH_CACHE", 8)
    engine = make_engine(FakeSink())
    for i in range(50):
        assert engine.matches(f"chat/pub/room{i}")
        assert not engine.matches(f"other/{i}")
    assert len(engine._match_cache) <= 8
    assert engine.matches("chat/pub/room3") and not engine.matches("other/3")
