"""The JSONata dialect (``QueryLanguage: JSONata``): ``{% expr %}`` strings anywhere in
Arguments, Output, Assign, Items, ItemSelector, Condition, Seconds, Timestamp, Error, Cause;
``$states`` holds ``input``, ``context``, ``result`` and ``errorOutput``.

Why jsonata-python: it is a maintained port of the reference JSONata implementation
(jsonata-js 2.x) with the full function library; writing our own JSONata would be a
project of its own. Step Functions' extra functions ($partition, $range, $hash, $random,
$uuid, $parse) are registered on each compiled expression. Pure (no I/O, no clock).
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from functools import lru_cache
from typing import Any

import jsonata
from jsonata.utils import Utils

from hubbub.workflows import choice
from hubbub.workflows.dialects import _check_delay
from hubbub.workflows.errors import StatesError
from hubbub.workflows.payload import dumps

_QE = "States.QueryEvaluationError"


def _is_expr(v: Any) -> bool:
    return isinstance(v, str) and v.startswith("{%") and v.endswith("%}")


@lru_cache(maxsize=2048)
def _compile(text: str) -> Any:
    try:
        expr = jsonata.Jsonata(text)
        # Keep JSON null (Utils.NULL_VALUE) apart from "undefined" (None): AWS fails a
        # field whose expression gives nothing, but null is a value.
        expr.set_output_convert_nulls(False)
    except Exception as exc:  # the library raises its own JException
        raise StatesError(_QE, f"The JSONata expression '{text}' is invalid: {exc}") from exc
    return expr


def _register(expr: Any, rng: random.Random) -> None:
    def partition(arr: list[Any], size: int) -> list[list[Any]]:
        n = int(size)
        return [arr[i : i + n] for i in range(0, len(arr), n)]

    def rng_range(start: float, end: float, step: float) -> Any:
        # Inclusive of ``end``; one item is a JSONata singleton sequence, i.e. the item.
        out, v = [], start
        while (step > 0 and v <= end) or (step < 0 and v >= end):
            out.append(v)
            v += step
        return out[0] if len(out) == 1 else out

    def hash_(data: str, algo: str) -> str:
        algos = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384",
                 "SHA-512": "sha512"}
        return hashlib.new(algos[algo], str(data).encode()).hexdigest()

    expr.register_lambda("partition", partition)
    expr.register_lambda("range", rng_range)
    expr.register_lambda("hash", hash_)
    expr.register_lambda("random", lambda *seed: random.Random(seed[0]).random()
                         if seed else rng.random())
    expr.register_lambda("uuid", lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)))
    expr.register_lambda("parse", lambda s: json.loads(s))


class JSONata:
    lang = "JSONata"

    def __init__(self, ctx: dict[str, Any], variables: dict[str, Any],
                 rng: random.Random) -> None:
        self.ctx = ctx
        self.variables = variables
        self.rng = rng
        self.inspect: dict[str, Any] | None = None

    # -- evaluation -------------------------------------------------------------------

    def _states(self, doc: Any, **extra: Any) -> dict[str, Any]:
        return {"input": doc, "context": self.ctx, **extra}

    def expr(self, text: str, states: dict[str, Any], where: str) -> Any:
        body = text[2:-2].strip()
        compiled = _compile(body)
        _register(compiled, self.rng)
        bindings = {k: Utils.NULL_VALUE if v is None else v for k, v in self.variables.items()}
        bindings["states"] = states
        try:
            value = compiled.evaluate(None, bindings)
        except StatesError:
            raise
        except Exception as exc:
            code = getattr(exc, "error", None)
            text = f"{code}: {exc}" if code else str(exc)
            raise StatesError(_QE, f"The JSONata expression '{body}' specified for the field "
                              f"'{where}' threw an error during evaluation. {text}") from exc
        if value is None:
            raise StatesError(_QE, f"The JSONata expression '{body}' specified for the field "
                              f"'{where}' returned nothing (undefined).")
        if callable(value) or type(value).__name__ in ("Symbol", "JLambda", "JFunction"):
            raise StatesError(_QE, f"The JSONata expression '{body}' specified for the field "
                              f"'{where}' returned an unsupported result type.")
        return _plain(value)

    def value(self, v: Any, states: dict[str, Any], where: str) -> Any:
        if _is_expr(v):
            return self.expr(v, states, where)
        if isinstance(v, dict):
            return {k: self.value(x, states, f"{where}/{k}") for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x, states, f"{where}[{i}]") for i, x in enumerate(v)]
        return v

    def _assign(self, spec: dict[str, Any] | None, states: dict[str, Any]) -> dict[str, Any]:
        if not spec:
            return {}
        return {k: self.value(v, states, f"Assign/{k}") for k, v in spec.items()}

    # -- the Dialect interface --------------------------------------------------------

    def effective_input(self, state: dict[str, Any], doc: Any) -> Any:
        if "Arguments" not in state:
            return doc
        args = self.value(state["Arguments"], self._states(doc), "Arguments")
        if self.inspect is not None:
            self.inspect["afterArguments"] = args
        return args

    def resource(self, state: dict[str, Any], doc: Any) -> str:
        return str(state["Resource"])

    def timeout(self, state: dict[str, Any], doc: Any) -> float | None:
        t = state.get("TimeoutSeconds")
        return float(self.value(t, self._states(doc), "TimeoutSeconds")) if t is not None \
            else None

    def finish(self, state: dict[str, Any], doc: Any, result: Any,
               result_is_input: bool = False) -> tuple[Any, dict[str, Any]]:
        states = self._states(doc) if result_is_input else self._states(doc, result=result)
        if self.inspect is not None and state.get("Type") == "Task":
            self.inspect["result"] = result
        assigned = self._assign(state.get("Assign"), states)
        if "Output" in state:
            return self.value(state["Output"], states, "Output"), assigned
        return (doc if result_is_input else result), assigned

    def pass_state(self, state: dict[str, Any], doc: Any) -> tuple[Any, dict[str, Any]]:
        return self.finish(state, doc, doc, result_is_input=True)

    def plain_output(self, state: dict[str, Any], doc: Any) -> Any:
        return self.finish(state, doc, doc, result_is_input=True)[0]

    def fail_fields(self, state: dict[str, Any], doc: Any) -> tuple[str | None, str | None]:
        st = self._states(doc)
        error, cause = state.get("Error"), state.get("Cause")
        return (self.value(error, st, "Error") if error is not None else None,
                self.value(cause, st, "Cause") if cause is not None else None)

    def choice(self, state: dict[str, Any], doc: Any) -> tuple[Any, str | None, dict[str, Any]]:
        st = self._states(doc)
        target = state.get("Default")
        spec, out_spec = state.get("Assign"), state.get("Output")
        for i, rule in enumerate(state.get("Choices", [])):
            if "Condition" in rule:
                hit = self.value(rule["Condition"], st, f"Choices[{i}]/Condition")
                if not isinstance(hit, bool):
                    raise StatesError(_QE, f"The Condition of Choices[{i}] is not a boolean: "
                                      f"{dumps(hit)}")
            else:  # JSONPath-style rule inside a JSONata machine is not allowed by AWS
                hit = choice.evaluate(rule, lambda p: doc)
            if hit:
                target = rule["Next"]
                spec = rule.get("Assign")
                out_spec = rule.get("Output", out_spec)
                break
        assigned = self._assign(spec, st)
        out = self.value(out_spec, st, "Output") if out_spec is not None else doc
        return out, target, assigned

    def wait_until(self, state: dict[str, Any], doc: Any, now: float) -> float:
        st = self._states(doc)
        if "Seconds" in state:
            secs = self.value(state["Seconds"], st, "Seconds")
            if not isinstance(secs, (int, float)) or isinstance(secs, bool) or secs < 0:
                raise StatesError(_QE, f"The Seconds field is not a valid positive integer: "
                                  f"{dumps(secs)}")
            return now + _check_delay(secs)
        ts_text = self.value(state.get("Timestamp"), st, "Timestamp")
        ts = choice.parse_timestamp(ts_text)
        if ts is None:
            raise StatesError(_QE, "The Timestamp field cannot be parsed as an ISO-8601 "
                              f"extended offset date-time format string: {ts_text}")
        return now + _check_delay(ts.timestamp() - now)

    def catch_output(self, catcher: dict[str, Any], doc: Any, err: dict[str, Any]) -> Any:
        st = self._states(doc, errorOutput=err)
        self.variables.update(self._assign(catcher.get("Assign"), st))
        if "Output" in catcher:
            return self.value(catcher["Output"], st, "Output")
        return err

    def map_items(self, state: dict[str, Any], doc: Any) -> tuple[Any, list[Any]]:
        spec = state.get("Items")
        if spec is None:
            if not isinstance(doc, list):
                raise StatesError(_QE, f"Map state input must be an array but was: {dumps(doc)}")
            return doc, doc
        items = self.value(spec, self._states(doc), "Items")
        if not isinstance(items, list):
            shown = spec[2:-2].strip() if _is_expr(spec) else dumps(spec)
            raise StatesError(_QE, f"The JSONata expression '{shown}' specified for the field "
                              "'Items' returned an unexpected result type. Expected 'array', "
                              f"but was '{_json_type(items)}' for value: {dumps(items)}")
        return doc, items

    def map_item_input(self, state: dict[str, Any], eff: Any, item: Any, index: int) -> Any:
        if "ItemSelector" not in state:
            return item
        ctx = dict(self.ctx)
        ctx["Map"] = {"Item": {"Index": index, "Value": item}}
        return self.value(state["ItemSelector"], {"input": eff, "context": ctx},
                          "ItemSelector")

    def number_field(self, state: dict[str, Any], doc: Any, name: str) -> Any:
        if name not in state:
            return None
        v = self.value(state[name], self._states(doc), name)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise StatesError(_QE, f"The {name} field must be a number, got {dumps(v)}")
        return v


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "object" if isinstance(v, dict) else "array" if isinstance(v, list) else "unknown"


def _plain(v: Any) -> Any:
    """Convert jsonata-python's results to plain JSON values (it returns its own list
    subclass for sequences, and floats for whole numbers after arithmetic)."""
    if v is Utils.NULL_VALUE:
        return None
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v
