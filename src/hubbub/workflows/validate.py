"""Static validation of state machine definitions, before anything runs.

Each problem is a ``Diagnostic`` whose location is a path into the definition
(``/States/Foo/Next``); messages and codes follow what AWS's CreateStateMachine and
ValidateStateMachineDefinition return where the conformance recordings show them. Pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from hubbub.workflows import intrinsics, schema
from hubbub.workflows.choice import parse_timestamp
from hubbub.workflows.errors import Diagnostic, InvalidDefinition, StatesError

SCHEMA = "SCHEMA_VALIDATION_FAILED"
_TYPES = {"Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}
_TERMINAL = {"Choice", "Succeed", "Fail"}
# Labels name Map runs in ARNs; these characters are refused (Step Functions "Map state").
_LABEL_BAD = set(" ?*<>{}[]:;,\\|^~$#%&`\"")


def validate_definition(defn: dict[str, Any] | str, *, machine_type: str = "STANDARD"
                        ) -> list[Diagnostic]:
    """Every problem found in ``defn`` (JSON text or parsed); empty when it is valid.

    ``machine_type`` is STANDARD or EXPRESS (Express machines refuse callback and
    ``.sync`` integrations).
    """
    if isinstance(defn, str):
        if not defn.strip():
            return [Diagnostic(SCHEMA, "Definition must be a valid JSON object", "")]
        text = defn
        try:
            defn = json.loads(text)
        except json.JSONDecodeError as exc:
            return [_json_problem(text, exc)]
    if not isinstance(defn, dict):
        return [Diagnostic(SCHEMA, "Definition must be a valid JSON object", "/")]
    out: list[Diagnostic] = []
    _block(defn, "", defn.get("QueryLanguage", "JSONPath"), out, top=True)
    if defn.get("QueryLanguage") == "JSONata":
        _no_jsonpath_states(defn, "", out)
    if machine_type == "EXPRESS":
        _express(defn, "", out)
    return out


_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _json_problem(text: str, exc: json.JSONDecodeError) -> Diagnostic:
    """Bad JSON. AWS parses with Jackson and reports its text; for a bare word where a value
    belongs (recorded: test_validate_state_machine_definition_not_a_definition) we give
    the same, other syntax errors get Python's message."""
    word = _WORD.match(text, exc.pos) if exc.msg == "Expecting value" else None
    if word is None:
        return Diagnostic("INVALID_JSON_DESCRIPTION", f"Invalid JSON: {exc.msg}",
                          f"line {exc.lineno}, column {exc.colno}")
    shown = text if len(text) <= 500 else f"{text[:500]}\"[truncated {len(text) - 500} chars]"
    where = f"[Source: (String)\"{shown}\"; line: {exc.lineno}, column: " \
        f"{exc.colno + len(word.group())}]"
    return Diagnostic("INVALID_JSON_DESCRIPTION",
                      f"Unrecognized token '{word.group()}': was expecting (JSON String, "
                      f"Number, Array, Object or token 'null', 'true' or 'false')\n at {where}",
                      where)


def check(defn: dict[str, Any] | str) -> dict[str, Any]:
    """Parse and validate; the definition as a dict, or raise ``InvalidDefinition``."""
    problems = validate_definition(defn)
    if problems:
        raise InvalidDefinition(problems)
    return json.loads(defn) if isinstance(defn, str) else defn


def _block(block: dict[str, Any], at: str, lang: str, out: list[Diagnostic],
           top: bool = False) -> None:
    root = at or "/"
    missing = [f for f in ("States", "StartAt") if f not in block]
    if missing:
        out.append(Diagnostic(SCHEMA, f"These fields are required: [{', '.join(missing)}]", root))
        return
    states = block["States"]
    if not isinstance(states, dict) or not states:
        out.append(Diagnostic(SCHEMA, "States must be a non-empty object", f"{at}/States"))
        return
    if not isinstance(block["StartAt"], str) or block["StartAt"] not in states:
        out.append(Diagnostic("MISSING_TRANSITION_TARGET",
                              f"Missing 'StartAt' target: {block['StartAt']}", f"{at}/StartAt"))
    block_lang = block.get("QueryLanguage", lang)
    if block_lang not in ("JSONPath", "JSONata"):
        out.append(Diagnostic(SCHEMA, f"Invalid QueryLanguage {block_lang!r}",
                              f"{at}/QueryLanguage"))
    for name, state in states.items():
        _state(name, state, states, f"{at}/States/{name}", block_lang, out, top)
    _reachability(block, at, out)


def _target(states: dict[str, Any], target: Any, at: str, field: str,
            out: list[Diagnostic]) -> None:
    if not isinstance(target, str) or target not in states:
        out.append(Diagnostic("MISSING_TRANSITION_TARGET",
                              f"Missing '{field}' target: {target}", at))


def _state(name: str, state: Any, states: dict[str, Any], at: str, lang: str,
           out: list[Diagnostic], top: bool) -> None:
    if not isinstance(state, dict):
        out.append(Diagnostic(SCHEMA, "A state must be an object", at))
        return
    kind = state.get("Type")
    if not isinstance(kind, str) or kind not in _TYPES:
        out.append(Diagnostic(SCHEMA, f"Invalid state type: {kind}", f"{at}/Type"))
        return
    shape = schema.check_state(kind, state, at)
    if shape:  # the checks below assume well-shaped fields
        out.extend(shape)
        return
    own_lang = state.get("QueryLanguage", lang)
    if own_lang == "JSONPath":
        for key in ("Parameters", "ResultSelector", "ItemSelector"):
            if key in state:
                _dollar_fields(state[key], f"{at}/{key}", out)
    if kind not in _TERMINAL:
        has_next, has_end = "Next" in state, bool(state.get("End"))
        if has_next == has_end:
            out.append(Diagnostic(SCHEMA, "Exactly one of 'Next' or 'End' is required", at))
    if "Next" in state:
        _target(states, state["Next"], f"{at}/Next", "Next", out)
    for i, c in enumerate(state.get("Catch", []) or []):
        _target(states, c.get("Next"), f"{at}/Catch[{i}]/Next", "Next", out)
    if kind == "Choice":
        choices = state.get("Choices")
        if not isinstance(choices, list) or not choices:
            out.append(Diagnostic(SCHEMA, "These fields are required: [Choices]", at))
        else:
            for i, rule in enumerate(choices):
                _target(states, rule.get("Next"), f"{at}/Choices[{i}]/Next", "Next", out)
        if "Default" in state:
            _target(states, state["Default"], f"{at}/Default", "Default", out)
    elif kind == "Task":
        if not isinstance(state.get("Resource"), str):
            out.append(Diagnostic(SCHEMA, "These fields are required: [Resource]", at))
        else:
            _resource(state["Resource"], f"{at}/Resource", out)
        creds = state.get("Credentials")
        if creds is not None and "RoleArn" not in creds and "RoleArn.$" not in creds:
            out.append(Diagnostic(SCHEMA, "The field 'RoleArn' is required but was missing",
                                  f"{at}/Credentials"))
    elif kind == "Wait":
        _wait(state, at, own_lang, out)
    elif kind == "Parallel":
        for i, b in enumerate(state.get("Branches") or []):
            _block(b, f"{at}/Branches[{i}]", own_lang, out)
        if not state.get("Branches"):
            out.append(Diagnostic(SCHEMA, "These fields are required: [Branches]", at))
    elif kind == "Map":
        proc = state.get("ItemProcessor", state.get("Iterator"))
        if not isinstance(proc, dict):
            out.append(Diagnostic(SCHEMA, "These fields are required: [ItemProcessor]", at))
        else:
            key = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
            _block(proc, f"{at}/{key}", own_lang, out)
        if "Label" in state:
            _label(state["Label"], f"{at}/Label", out)


def _dollar_fields(tmpl: Any, at: str, out: list[Diagnostic]) -> None:
    """Every ``"x.$"`` value must be a path or a well-formed intrinsic call."""
    if isinstance(tmpl, list):
        for v in tmpl:
            _dollar_fields(v, at, out)
        return
    if not isinstance(tmpl, dict):
        return
    for k, v in tmpl.items():
        if k.endswith(".$"):
            ok = isinstance(v, str) and v.startswith("$")
            if isinstance(v, str) and v.startswith("States."):
                try:
                    intrinsics.parse(v)
                    ok = True
                except StatesError:
                    ok = False
            if not ok:
                out.append(Diagnostic(SCHEMA, f"The value for the field '{k}' must be a valid "
                                      "JSONPath or a valid intrinsic function call", at))
        else:
            _dollar_fields(v, at, out)


# Optimised service integrations and their actions (Step Functions developer guide,
# "Integrating services"); anything else must go through ``aws-sdk:``.
_INTEGRATIONS = {
    "lambda": {"invoke"}, "sqs": {"sendMessage"}, "sns": {"publish"},
    "states": {"startExecution"}, "events": {"putEvents"},
    "dynamodb": {"getItem", "putItem", "updateItem", "deleteItem"},
    "ecs": {"runTask"}, "batch": {"submitJob"}, "glue": {"startJobRun"},
    "apigateway": {"invoke"}, "http": {"invoke"}, "eks": {"call", "runJob"},
}


def _resource(res: str, at: str, out: list[Diagnostic]) -> None:
    prefix = "arn:aws:states:::"
    if not res.startswith(prefix) or res.startswith(prefix + "aws-sdk:"):
        return
    service, _, action = res[len(prefix):].partition(":")
    action = action.split(".")[0]
    if service in _INTEGRATIONS and action not in _INTEGRATIONS[service]:
        shown = res.replace("arn:aws:", "arn:<partition>:", 1)
        out.append(Diagnostic(SCHEMA, f"The resource provided {shown} is not recognized. The "
                              "value is not a valid resource ARN, or the resource is not "
                              "available in this region.", at))


def _nested_states(block: dict[str, Any], at: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, state) of every state, nested included, located as Step Functions'
    validator locates them (``/Branches[0]``; a Map's ``Iterator`` as ``/ItemProcessor``)."""
    states = block.get("States")
    for name, state in (states.items() if isinstance(states, dict) else ()):
        if not isinstance(state, dict):
            continue
        here = f"{at}/States/{name}"
        yield here, state
        for i, b in enumerate(_as_list(state.get("Branches"))):
            if isinstance(b, dict):
                yield from _nested_states(b, f"{here}/Branches[{i}]")
        proc = state.get("ItemProcessor") or state.get("Iterator")
        if isinstance(proc, dict):
            yield from _nested_states(proc, f"{here}/ItemProcessor")


def _no_jsonpath_states(block: dict[str, Any], at: str, out: list[Diagnostic]) -> None:
    """A machine-wide JSONata may not be overridden back to JSONPath by any state."""
    for here, state in _nested_states(block, at):
        if state.get("QueryLanguage") == "JSONPath":
            out.append(Diagnostic(SCHEMA, "'QueryLanguage' can not be 'JSONPath' if set to "
                                  "'JSONata' for whole state machine", here))


def _express(block: dict[str, Any], at: str, out: list[Diagnostic]) -> None:
    for here, state in _nested_states(block, at):
        res = state.get("Resource")
        if isinstance(res, str) and res.endswith(".waitForTaskToken"):
            out.append(Diagnostic(SCHEMA, "Express state machine does not support "
                                  "'.waitForTaskToken' service integration ", f"{here}/Resource"))
        elif isinstance(res, str) and res.endswith(".sync"):
            out.append(Diagnostic(SCHEMA, "Express state machine does not support '.sync' "
                                  "service integration", f"{here}/Resource"))


def _wait(state: dict[str, Any], at: str, lang: str, out: list[Diagnostic]) -> None:
    given = [f for f in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if f in state]
    if len(given) != 1:
        out.append(Diagnostic(SCHEMA, "Exactly one of Seconds, SecondsPath, Timestamp or "
                              "TimestampPath is required", at))
    ts = state.get("Timestamp")
    is_expr = lang == "JSONata" and isinstance(ts, str) and ts.startswith("{%")
    if "Timestamp" in state and not is_expr and parse_timestamp(ts) is None:
        out.append(Diagnostic(SCHEMA, "String does not match RFC3339 timestamp",
                              f"{at}/Timestamp"))


def _label(label: Any, at: str, out: list[Diagnostic]) -> None:
    if not isinstance(label, str) or not label:
        out.append(Diagnostic(SCHEMA, "Label cannot be empty", at))
        return
    if len(label) > 40:
        out.append(Diagnostic(SCHEMA, "Label cannot exceed 40 characters", at))
    for ch in label:
        if ch in _LABEL_BAD or ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F:
            out.append(Diagnostic(SCHEMA, f"Label contains invalid character: {ch!r}", at))
            return


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _reachability(block: dict[str, Any], at: str, out: list[Diagnostic]) -> None:
    states = block["States"]
    seen: set[str] = set()
    todo = [block["StartAt"]]
    while todo:
        name = todo.pop()
        if not isinstance(name, str) or name in seen or not isinstance(states.get(name), dict):
            continue
        seen.add(name)
        s = states[name]
        todo.extend(t for t in (s.get("Next"), s.get("Default")) if isinstance(t, str))
        todo.extend(c.get("Next") for c in _as_list(s.get("Catch")) if isinstance(c, dict))
        todo.extend(r.get("Next") for r in _as_list(s.get("Choices")) if isinstance(r, dict))
    for name in states:
        if name not in seen:
            out.append(Diagnostic("UNREACHABLE_STATE", f"State '{name}' is not reachable",
                                  f"{at}/States/{name}"))
