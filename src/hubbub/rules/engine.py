"""The rules engine: match a published message to rules, evaluate, run the actions.

Evaluation is pure (``Statement.evaluate``); this module only awaits the ``ActionSink``.
Choices, following IoT Core where it documents them:

* Every enabled rule whose FROM filter matches runs (found with ``TopicTrie``, once per
  topic: the answer is cached). A Basic Ingest topic ``$aws/rules/<name>/...`` runs that
  one rule only.
* ``dispatch`` evaluates every matching rule at once (pure, no I/O) and returns one
  awaitable for the actions, or None when there is nothing to run, so a message that no
  rule acts on costs no task. The actions of all matching rules for one message run
  concurrently (``asyncio.gather``, skipped when there is a single one); the awaitable
  is done when all are done, so a caller that awaits each message keeps messages in order.
* Actions send the SELECT output: republish/kinesis get its JSON bytes (a binary
  payload selected with ``SELECT *`` is passed through unchanged), lambda and
  stepFunctions get the value (binary: its base64 text), dynamoDBv2 needs an object.
* If an action raises, the rule's errorAction runs once with IoT Core's error message
  (ruleName, topic, clientId, base64OriginalPayload, failures[...]).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid as _uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hubbub.mqtt.topics import TopicTrie, validate_topic_name
from hubbub.rules.context import BASIC_INGEST_PREFIX, MessageContext
from hubbub.rules.spec import (
    Action,
    DynamoDBv2Action,
    KinesisAction,
    LambdaAction,
    RepublishAction,
    RuleSpec,
    StepFunctionsAction,
)
from hubbub.rules.statement import EvalResult
from hubbub.rules.templates import render_template
from hubbub.rules.values import UNDEFINED

_FAILED_ACTION = {  # IoT Core's names in the error message's failures[].failedAction
    "republish": "RepublishAction", "lambda": "LambdaAction", "kinesis": "KinesisAction",
    "dynamoDBv2": "DynamoDBv2Action", "stepFunctions": "StepFunctionsAction",
}


class ActionSink(Protocol):
    """Where actions go; implemented by the server's wiring (broker, functions, ...)."""

    async def republish(self, topic: str, payload: bytes, qos: int) -> None: ...
    async def invoke_event(self, function: str, event: Any) -> None:
        """Lambda's asynchronous invoke: return once queued; raise if it cannot be."""
    async def put_record(self, stream: str, partition_key: str, data: bytes) -> None: ...
    async def put_item(self, table: str, item: dict[str, Any]) -> None: ...
    async def start_execution(self, state_machine: str, input: Any,
                              name: str | None) -> Any: ...


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What happened to one action of one rule for one message."""

    rule: str
    action: str  # the action kind, e.g. "republish"
    resource: str  # the rendered topic / function / stream / table / state machine
    ok: bool
    error: str | None = None
    is_error_action: bool = False


def _default_uuid() -> str:
    return str(_uuid.uuid4())


#: Topics whose matching rules are remembered (the trie is walked once per topic).
MATCH_CACHE = 4096
#: Failed actions are logged at most once per rule and action in this many ms.
LOG_EVERY_MS = 10_000


class RulesEngine:
    """Runs topic rules against published messages; holds no I/O of its own."""

    def __init__(self, rules: Mapping[str, RuleSpec], sink: ActionSink, *,
                 clock_ms: Callable[[], int], uuid: Callable[[], str] = _default_uuid,
                 log: logging.Logger | None = None, account_id: str | None = None) -> None:
        self._rules = dict(rules)
        self._sink = sink
        self._clock_ms = clock_ms
        self._uuid = uuid
        self._log = log or logging.getLogger("hubbub.rules")
        self._account_id = account_id
        self._trie: TopicTrie[RuleSpec] = TopicTrie()
        self._failure_log: dict[tuple[str, str], tuple[int, int]] = {}
        self._match_cache: dict[str, tuple[tuple[str, RuleSpec], ...]] = {}
        for name, rule in self._rules.items():
            if not rule.disabled:
                self._trie.add(rule.statement.topic_filter, name, rule)

    @property
    def rules(self) -> Mapping[str, RuleSpec]:
        return self._rules

    def _matching(self, topic: str) -> tuple[tuple[str, RuleSpec], ...]:
        found = self._match_cache.get(topic)
        if found is None:
            found = self._match(topic)
            if len(self._match_cache) >= MATCH_CACHE:
                self._match_cache.clear()  # rules never change: a refill costs only time
            self._match_cache[topic] = found
        return found

    def _match(self, topic: str) -> tuple[tuple[str, RuleSpec], ...]:
        if topic.startswith(BASIC_INGEST_PREFIX):
            name = topic[len(BASIC_INGEST_PREFIX):].split("/", 1)[0]
            rule = self._rules.get(name)
            return ((name, rule),) if rule is not None and not rule.disabled else ()
        found = [(str(key), rule) for key, rule in self._trie.match(topic)]
        found.sort(key=lambda kv: kv[0])
        return tuple(found)

    def matches(self, topic: str) -> bool:
        """Whether any enabled rule would see a message published on ``topic``."""
        return bool(self._matching(topic))

    async def on_publish(self, topic: str, payload: bytes, *, client_id: str | None,
                         principal: str | None, qos: int) -> list[ActionOutcome]:
        """Evaluate every matching rule and run its actions; never raises for bad input."""
        pending = self.dispatch(topic, payload, client_id=client_id, principal=principal,
                                qos=qos)
        return [] if pending is None else await pending

    def dispatch(self, topic: str, payload: bytes, *, client_id: str | None,
                 principal: str | None, qos: int) -> Awaitable[list[ActionOutcome]] | None:
        """Evaluate every matching rule now; return what runs their actions, or None when
        no rule has an action to run (no match, or every WHERE false): nothing to await.

        Evaluation is pure and quick, so it happens here, synchronously, before the
        caller's next message; only the actions (I/O) are left to the awaitable.
        """
        rules = self._matching(topic)
        if not rules:
            return None
        ctx = MessageContext(topic=topic, payload=payload, client_id=client_id,
                             principal=principal, timestamp_ms=self._clock_ms(),
                             newuuid=self._uuid, account_id=self._account_id)
        runs = []
        for name, rule in rules:
            run = self._evaluate_rule(name, rule, ctx)
            if run is not None:
                runs.append(run)
        if not runs:
            return None
        if len(runs) == 1:  # the usual case: await it as it is, no task, no gather
            return runs[0]
        return self._gather(runs)

    @staticmethod
    async def _gather(runs: list[Awaitable[list[ActionOutcome]]]) -> list[ActionOutcome]:
        outcomes: list[ActionOutcome] = []
        for result in await asyncio.gather(*runs):
            outcomes.extend(result)
        return outcomes

    def _evaluate_rule(self, name: str, rule: RuleSpec,
                       ctx: MessageContext) -> Awaitable[list[ActionOutcome]] | None:
        try:
            result = rule.statement.evaluate(ctx)
        except Exception as exc:  # a bug in the evaluator must not take the broker down
            self._log.exception("rule %s: evaluation failed", name)
            failure = ("Evaluation", "", f"{type(exc).__name__}: {exc}")
            if rule.error_action is None:
                return None
            return self._error_action(name, rule, ctx, [failure])
        if result is None or not rule.actions:
            return None
        return self._run_actions(name, rule, ctx, result)

    async def _run_actions(self, name: str, rule: RuleSpec, ctx: MessageContext,
                           result: EvalResult) -> list[ActionOutcome]:
        if len(rule.actions) == 1:
            outcomes = [await self._run_action(name, rule.actions[0], ctx, result)]
        else:
            outcomes = list(await asyncio.gather(
                *(self._run_action(name, a, ctx, result) for a in rule.actions)))
        failures = [(_FAILED_ACTION[o.action], o.resource, o.error or "")
                    for o in outcomes if not o.ok]
        if failures:
            outcomes.extend(await self._error_action(name, rule, ctx, failures))
        return outcomes

    async def _run_action(self, rule: str, action: Action, ctx: MessageContext,
                          result: EvalResult, *, error_event: Any = None) -> ActionOutcome:
        resource = _resource_of(action)
        is_error = error_event is not None
        try:
            resource = render_template(resource, ctx, result.variables)
            await self._dispatch(action, resource, ctx, result, error_event)
        except Exception as exc:
            self._warn_failure(rule, action.kind, resource, exc)
            return ActionOutcome(rule, action.kind, resource, False,
                                 f"{type(exc).__name__}: {exc}", is_error)
        return ActionOutcome(rule, action.kind, resource, True, None, is_error)

    def _warn_failure(self, rule: str, kind: str, resource: str, exc: Exception) -> None:
        """Log a failed action, at most once per rule and action every ``LOG_EVERY_MS``:
        a burst of refused stream puts must not flood the log. The count of the ones
        left out is in the next line."""
        key = (rule, kind)
        now = self._clock_ms()
        last, hidden = self._failure_log.get(key, (-LOG_EVERY_MS, 0))
        if now - last < LOG_EVERY_MS:
            self._failure_log[key] = (last, hidden + 1)
            return
        self._failure_log[key] = (now, 0)
        more = f" ({hidden} more failures not logged)" if hidden else ""
        self._log.warning("rule %s: %s action on %s failed: %s%s", rule, kind, resource,
                          exc, more)

    async def _dispatch(self, action: Action, resource: str, ctx: MessageContext,
                        result: EvalResult, error_event: Any) -> None:
        def t(template: str) -> str:
            return render_template(template, ctx, result.variables)

        sent = result if error_event is None else EvalResult(error_event)
        value = sent.output
        event = None if value is UNDEFINED else (
            base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value)
        match action:
            case RepublishAction(_, qos):
                validate_topic_name(resource)  # a template may render '+', '#' or ''
                await self._sink.republish(resource, sent.payload(), qos)
            case LambdaAction():
                await self._sink.invoke_event(resource, event)
            case KinesisAction(_, key):
                pk = t(key) if key is not None else self._uuid()
                await self._sink.put_record(resource, pk, sent.payload())
            case DynamoDBv2Action():
                if not isinstance(event, dict):
                    raise TypeError("dynamoDBv2 needs the SELECT output to be a JSON object")
                await self._sink.put_item(resource, event)
            case StepFunctionsAction(_, prefix):
                name = f"{t(prefix)}{self._uuid()}" if prefix is not None else None
                await self._sink.start_execution(resource, event, name)

    async def _error_action(self, name: str, rule: RuleSpec, ctx: MessageContext,
                            failures: list[tuple[str, str, str]]) -> list[ActionOutcome]:
        if rule.error_action is None:
            return []
        message = {
            "ruleName": name,
            "topic": ctx.topic,
            "clientId": ctx.client_id if ctx.client_id is not None else "n/a",
            "base64OriginalPayload": base64.b64encode(ctx.payload).decode("ascii"),
            "failures": [{"failedAction": a, "failedResource": r, "errorMessage": m}
                         for a, r, m in failures],
        }
        try:
            variables = rule.statement.variables(ctx)
        except Exception:  # evaluation already failed once; templates see no variables
            variables = {}
        outcome = await self._run_action(name, rule.error_action, ctx,
                                         EvalResult(message, variables), error_event=message)
        return [outcome]


def _resource_of(action: Action) -> str:
    """The action's target as written (a template)."""
    match action:
        case RepublishAction(topic, _):
            return topic
        case LambdaAction(function):
            return function
        case KinesisAction(stream, _):
            return stream
        case DynamoDBv2Action(table):
            return table
        case StepFunctionsAction(machine, _):
            return machine
    return ""
