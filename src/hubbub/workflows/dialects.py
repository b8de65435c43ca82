"""Query-language dialects: how a state reads its input and shapes its output.

``JsonPath`` implements the ASL spec's "Input and Output Processing" (InputPath,
Parameters, ResultSelector, ResultPath, OutputPath) and the ``.$`` convention;
``jsonata_mode.JSONata`` implements the same interface for ``QueryLanguage: JSONata``.
Pure.
"""

from __future__ import annotations

import random
from typing import Any, Protocol

from hubbub.workflows import choice, payload
from hubbub.workflows.choice import parse_timestamp
from hubbub.workflows.errors import StatesError
from hubbub.workflows.payload import Scope, dumps

# AWS refuses a wait whose delay does not fit a signed 32-bit count of seconds (conformance:
# test_timestamp_too_far_in_future_boundary, 24856 days is refused).
MAX_WAIT_SECONDS = 2**31 - 1


class Dialect(Protocol):
    lang: str
    ctx: dict[str, Any]
    #: TestState's inspection data: when a dict, each processing step records its value
    #: under AWS's key (afterInputPath, afterParameters, result, ...); None otherwise.
    inspect: dict[str, Any] | None

    def effective_input(self, state: dict[str, Any], doc: Any) -> Any: ...
    def resource(self, state: dict[str, Any], doc: Any) -> str: ...
    def timeout(self, state: dict[str, Any], doc: Any) -> float | None: ...
    def finish(self, state: dict[str, Any], doc: Any, result: Any,
               result_is_input: bool = False) -> tuple[Any, dict[str, Any]]: ...
    def pass_state(self, state: dict[str, Any], doc: Any) -> tuple[Any, dict[str, Any]]: ...
    def plain_output(self, state: dict[str, Any], doc: Any) -> Any: ...
    def fail_fields(self, state: dict[str, Any], doc: Any) -> tuple[str | None, str | None]: ...
    def choice(self, state: dict[str, Any], doc: Any
               ) -> tuple[Any, str | None, dict[str, Any]]: ...
    def wait_until(self, state: dict[str, Any], doc: Any, now: float) -> float: ...
    def catch_output(self, catcher: dict[str, Any], doc: Any, err: dict[str, Any]) -> Any: ...
    def map_items(self, state: dict[str, Any], doc: Any) -> tuple[Any, list[Any]]: ...
    def map_item_input(self, state: dict[str, Any], eff: Any, item: Any, index: int) -> Any: ...
    def number_field(self, state: dict[str, Any], doc: Any, name: str) -> Any: ...


def for_language(lang: str, ctx: dict[str, Any], variables: dict[str, Any],
                 rng: random.Random) -> Dialect:
    if lang == "JSONata":
        from hubbub.workflows.jsonata_mode import JSONata

        return JSONata(ctx, variables, rng)
    return JsonPath(ctx, variables, rng)


class JsonPath:
    lang = "JSONPath"

    def __init__(self, ctx: dict[str, Any], variables: dict[str, Any],
                 rng: random.Random) -> None:
        self.ctx = ctx
        self.variables = variables
        self.rng = rng
        self.inspect: dict[str, Any] | None = None

    def scope(self, doc: Any) -> Scope:
        return Scope(doc, self.ctx, self.variables, self.rng)

    def _note(self, key: str, value: Any) -> None:
        if self.inspect is not None:
            self.inspect[key] = value

    def _input(self, state: dict[str, Any], doc: Any) -> Any:
        eff = payload.select_path(doc, state.get("InputPath", "$"), self.scope(doc))
        self._note("afterInputPath", eff)
        return eff

    def effective_input(self, state: dict[str, Any], doc: Any) -> Any:
        eff = self._input(state, doc)
        if "Parameters" in state:
            eff = payload.template(state["Parameters"], self.scope(eff))
        self._note("afterParameters", eff)
        return eff

    def resource(self, state: dict[str, Any], doc: Any) -> str:
        return str(state["Resource"])

    def timeout(self, state: dict[str, Any], doc: Any) -> float | None:
        found: dict[str, float] = {}
        for name in ("TimeoutSeconds", "HeartbeatSeconds"):
            if name + "Path" in state:
                v = payload.select_path(doc, state[name + "Path"], self.scope(doc))
                if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                    raise StatesError("States.Runtime", f"The {name}Path parameter does not "
                                      f"reference a positive integer: {dumps(v)}")
                found[name] = float(v)
            elif name in state:
                found[name] = float(state[name])
        # Heartbeats are not sent by hubbub functions: a task that runs longer than its
        # heartbeat interval is as timed out as one that exceeds TimeoutSeconds.
        return min(found.values()) if found else None

    def finish(self, state: dict[str, Any], doc: Any, result: Any,
               result_is_input: bool = False) -> tuple[Any, dict[str, Any]]:
        if result_is_input:  # Wait: only InputPath/OutputPath apply
            eff = self._input(state, doc)
            assigned = self._assign(state, eff)
            return payload.select_path(eff, state.get("OutputPath", "$"), self.scope(eff)), \
                assigned
        if state.get("Type") == "Task":  # recorded: TestState shows a raw result for Tasks only
            self._note("result", result)
        if "ResultSelector" in state:
            result = payload.template(state["ResultSelector"], self.scope(result))
        self._note("afterResultSelector", result)
        # Assign sees the state's result as ``$`` (after ResultSelector) [ASL variables].
        assigned = self._assign(state, result)
        out = payload.result_path(doc, result, state.get("ResultPath"), "ResultPath" not in state)
        self._note("afterResultPath", out)
        out = payload.select_path(out, state.get("OutputPath", "$"), self.scope(out))
        return out, assigned

    def _assign(self, state: dict[str, Any], doc: Any) -> dict[str, Any]:
        if "Assign" not in state:
            return {}
        return payload.assign(state["Assign"], self.scope(doc))

    def pass_state(self, state: dict[str, Any], doc: Any) -> tuple[Any, dict[str, Any]]:
        if "Result" in state:
            # Recorded (TestState): a Pass with a Result reports the Result, not the
            # InputPath/Parameters steps it still evaluates.
            noting, self.inspect = self.inspect, None
            self.effective_input(state, doc)
            self.inspect = noting
            result = state["Result"]
            self._note("result", result)
        else:
            result = self.effective_input(state, doc)
        self._note("afterResultSelector", result)
        assigned = self._assign(state, result)
        out = payload.result_path(doc, result, state.get("ResultPath"), "ResultPath" not in state)
        self._note("afterResultPath", out)
        return payload.select_path(out, state.get("OutputPath", "$"), self.scope(out)), assigned

    def plain_output(self, state: dict[str, Any], doc: Any) -> Any:
        eff = self._input(state, doc)
        return payload.select_path(eff, state.get("OutputPath", "$"), self.scope(eff))

    def fail_fields(self, state: dict[str, Any], doc: Any) -> tuple[str | None, str | None]:
        sc = self.scope(doc)
        self._note("afterInputPath", doc)  # a Fail state has no InputPath
        error = state.get("Error")
        cause = state.get("Cause")
        if "ErrorPath" in state:
            error = _as_text(sc.value_of(state["ErrorPath"], "ErrorPath"))
        if "CausePath" in state:
            cause = _as_text(sc.value_of(state["CausePath"], "CausePath"))
        return error, cause

    def choice(self, state: dict[str, Any], doc: Any) -> tuple[Any, str | None, dict[str, Any]]:
        eff = self._input(state, doc)
        sc = self.scope(eff)
        target = state.get("Default")
        rule_assign: dict[str, Any] | None = state.get("Assign")
        for rule in state.get("Choices", []):
            if choice.evaluate(rule, sc.resolve):
                target = rule["Next"]
                rule_assign = rule.get("Assign")
                break
        assigned = payload.assign(rule_assign, sc) if rule_assign else {}
        out = payload.select_path(eff, state.get("OutputPath", "$"), sc)
        return out, target, assigned

    def wait_until(self, state: dict[str, Any], doc: Any, now: float) -> float:
        eff = self._input(state, doc)
        sc = self.scope(eff)
        if "Seconds" in state:
            return now + _check_delay(state["Seconds"])
        if "SecondsPath" in state:
            p = state["SecondsPath"]
            v = sc.value_of(p, "SecondsPath")
            if not isinstance(v, int) or isinstance(v, bool):
                raise StatesError("States.Runtime", "The SecondsPath parameter cannot be parsed "
                                  f"as a long value: {p} == {_as_text(v)}", quiet=True)
            if v < 0:
                raise StatesError("States.Runtime", "The SecondsPath parameter references a "
                                  f"negative value: {p} == {v}", quiet=True)
            return now + _check_delay(v)
        ts_text = state.get("Timestamp")
        if "TimestampPath" in state:
            p = state["TimestampPath"]
            ts_text = sc.value_of(p, "TimestampPath")
            if parse_timestamp(ts_text) is None:
                raise StatesError(
                    "States.Runtime", "The TimestampPath parameter does not reference a valid "
                    f"ISO-8601 extended offset date-time format string: {p} == "
                    f"{_as_text(ts_text)}", quiet=True)
        ts = parse_timestamp(ts_text)
        if ts is None:
            raise StatesError("States.Runtime", f"Invalid Timestamp {ts_text!r}")
        return now + _check_delay(ts.timestamp() - now)

    def catch_output(self, catcher: dict[str, Any], doc: Any, err: dict[str, Any]) -> Any:
        if "Assign" in catcher:
            self.variables.update(payload.assign(catcher["Assign"], self.scope(err)))
        return payload.result_path(doc, err, catcher.get("ResultPath"),
                                   "ResultPath" not in catcher)

    def map_items(self, state: dict[str, Any], doc: Any) -> tuple[Any, list[Any]]:
        eff = self._input(state, doc)
        path = state.get("ItemsPath", "$")
        items = payload.select_path(eff, path, self.scope(eff))
        if not isinstance(items, list):
            # AWS's text (recorded by TestState); a context path is shown relative to $$.
            shown = "null" if path is None else path[1:] if path.startswith("$$") else path
            raise StatesError("States.Runtime", f'Reference path "{shown}" must point to array.')
        self._note("afterItemsPath", items)
        return eff, items

    def map_item_input(self, state: dict[str, Any], eff: Any, item: Any, index: int) -> Any:
        tmpl = state.get("ItemSelector", state.get("Parameters"))
        if tmpl is None:
            return item
        ctx = dict(self.ctx)
        ctx["Map"] = {"Item": {"Index": index, "Value": item}}
        return payload.template(tmpl, Scope(eff, ctx, self.variables, self.rng))

    def number_field(self, state: dict[str, Any], doc: Any, name: str) -> Any:
        if name + "Path" in state:
            p = state[name + "Path"]
            v = self.scope(self._input(state, doc)).value_of(p, name + "Path")
            want_float = name == "ToleratedFailurePercentage"
            v = _parse_number(v, want_float)
            if v is None:
                raw = self.scope(self._input(state, doc)).value_of(p, name + "Path")
                shown = raw if isinstance(raw, str) else dumps(raw)
                kind = "float" if want_float else "integer"
                raise StatesError("States.Runtime", f'The {name}Path field refers to value '
                                  f'"{shown}" which is not a valid {kind}: {p}', quiet=True)
            return v
        return state.get(name)


def _parse_number(v: Any, want_float: bool) -> int | float | None:
    if isinstance(v, str):
        try:
            v = float(v) if want_float else int(v.strip())
        except ValueError:
            return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if not want_float and not isinstance(v, int):
        return None
    return v


def _check_delay(seconds: Any) -> float:
    if seconds > MAX_WAIT_SECONDS:
        raise StatesError("States.Runtime", "Wait state delay is too long.", quiet=True)
    return float(seconds)


def _as_text(v: Any) -> str:
    return v if isinstance(v, str) else dumps(v)
