"""Static validation of state machine definitions, before anything runs.

Each problem is a ``Diagnostic`` whose location is a path into the definition
(``/States/Foo/Next``); messages and codes follow what AWS's CreateStateMachine and
ValidateStateMachineDefinition return where the conformance recordings show them. Pure.
"""

from __future__ import annotations

import json
from typing import Any

from hubbub.workflows.choice import parse_timestamp
from hubbub.workflows.errors import Diagnostic, InvalidDefinition

SCHEMA = "SCHEMA_VALIDATION_FAILED"
_TYPES = {"Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}
_TERMINAL = {"Choice", "Succeed", "Fail"}
# Labels name Map runs in ARNs; these characters are refused (Step Functions "Map state").
_LABEL_BAD = set(" ?*<>{}[]:;,\\|^~$#%&`\"")


def validate_definition(defn: dict[str, Any] | str) -> list[Diagnostic]:
    """Every problem found in ``defn`` (JSON text or parsed); empty when it is valid."""
    if isinstance(defn, str):
        if not defn.strip():
            return [Diagnostic(SCHEMA, "Definition must be a valid JSON object", "")]
        try:
            defn = json.loads(defn)
        except json.JSONDecodeError as exc:
            return [Diagnostic("INVALID_JSON_DESCRIPTION", f"Invalid JSON: {exc.msg}",
                               f"line {exc.lineno}, column {exc.colno}")]
    if not isinstance(defn, dict):
        return [Diagnostic(SCHEMA, "Definition must be a valid JSON object", "/")]
    out: list[Diagnostic] = []
    _block(defn, "", defn.get("QueryLanguage", "JSONPath"), out, top=True)
    return out


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
    if block["StartAt"] not in states:
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
    if kind not in _TYPES:
        out.append(Diagnostic(SCHEMA, f"Invalid state type: {kind}", f"{at}/Type"))
        return
    own_lang = state.get("QueryLanguage", lang)
    if lang == "JSONata" and own_lang == "JSONPath":
        out.append(Diagnostic(SCHEMA, "'QueryLanguage' can not be 'JSONPath' if set to "
                              "'JSONata' for whole state machine", at))
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


def _reachability(block: dict[str, Any], at: str, out: list[Diagnostic]) -> None:
    states = block["States"]
    seen: set[str] = set()
    todo = [block["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen or name not in states or not isinstance(states[name], dict):
            continue
        seen.add(name)
        s = states[name]
        todo.extend(t for t in (s.get("Next"), s.get("Default")) if isinstance(t, str))
        todo.extend(c.get("Next") for c in s.get("Catch", []) or [] if isinstance(c, dict))
        todo.extend(r.get("Next") for r in s.get("Choices", []) or [] if isinstance(r, dict))
    for name in states:
        if name not in seen:
            out.append(Diagnostic("UNREACHABLE_STATE", f"State '{name}' is not reachable",
                                  f"{at}/States/{name}"))
