"""Field types of ASL states (ASL spec, "State Types" and "Errors"), checked before the
semantic checks in ``validate`` so that nothing later meets a field of the wrong shape.
Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubbub.workflows.choice import OPERATORS
from hubbub.workflows.errors import Diagnostic

SCHEMA = "SCHEMA_VALIDATION_FAILED"
Check = Callable[[Any], bool]


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _path(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.startswith("$"))


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _obj(v: Any) -> bool:
    return isinstance(v, dict)


def _int_at_least(n: int) -> Check:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= n


def _num_at_least(n: float) -> Check:
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= n


def _expr_or(check: Check) -> Check:
    # JSONata states may give numbers as {% expressions %}.
    return lambda v: check(v) or (isinstance(v, str) and v.startswith("{%"))


_COMMON: dict[str, Check] = {
    "Type": _str, "Comment": _str, "Next": _str, "End": _bool, "InputPath": _path,
    "OutputPath": _path, "QueryLanguage": lambda v: v in ("JSONPath", "JSONata"),
    "Assign": _obj,
}
_RESULT: dict[str, Check] = {"ResultPath": _path, "ResultSelector": _obj}
_ERRORS: dict[str, Check] = {"Retry": lambda v: isinstance(v, list),
                             "Catch": lambda v: isinstance(v, list)}
_FIELDS: dict[str, dict[str, Check]] = {
    "Pass": {"ResultPath": _path},
    "Task": {**_RESULT, **_ERRORS, "Resource": _str,
             "TimeoutSeconds": _expr_or(_num_at_least(0)), "TimeoutSecondsPath": _str,
             "HeartbeatSeconds": _expr_or(_num_at_least(0)), "HeartbeatSecondsPath": _str,
             "Credentials": _obj},
    "Choice": {"Choices": lambda v: isinstance(v, list), "Default": _str},
    "Wait": {"Seconds": _expr_or(_int_at_least(0)), "SecondsPath": _str,
             "Timestamp": _str, "TimestampPath": _str},
    "Succeed": {},
    "Fail": {"Error": _str, "Cause": _str, "ErrorPath": _str, "CausePath": _str},
    "Parallel": {**_RESULT, **_ERRORS, "Branches": lambda v: isinstance(v, list)},
    "Map": {**_RESULT, **_ERRORS, "ItemProcessor": _obj, "Iterator": _obj,
            "ItemsPath": _path, "ItemSelector": _obj,
            "MaxConcurrency": _expr_or(_int_at_least(0)), "MaxConcurrencyPath": _str,
            "ToleratedFailureCount": _expr_or(_int_at_least(0)),
            "ToleratedFailurePercentage": _expr_or(_num_at_least(0)),
            "ToleratedFailureCountPath": _str, "ToleratedFailurePercentagePath": _str},
}
_ALL_FIELDS: dict[str, Check] = {k: v for fields in _FIELDS.values() for k, v in fields.items()}
_RETRIER: dict[str, Check] = {
    "ErrorEquals": lambda v: isinstance(v, list) and bool(v) and all(map(_str, v)),
    "IntervalSeconds": _int_at_least(1), "MaxAttempts": _int_at_least(0),
    "BackoffRate": _num_at_least(1), "MaxDelaySeconds": _int_at_least(1),
    "JitterStrategy": lambda v: v in ("FULL", "NONE"), "Comment": _str,
}
_CATCHER: dict[str, Check] = {
    "ErrorEquals": _RETRIER["ErrorEquals"], "Next": _str, "ResultPath": _path,
    "Comment": _str, "Assign": _obj,
}


def check_state(kind: str, state: dict[str, Any], at: str) -> list[Diagnostic]:
    """Type problems of one state's fields (its Choices, Retry and Catch included)."""
    out: list[Diagnostic] = []
    # Every known field is checked whatever the state's type: generic code (reachability,
    # Catch targets) looks at Next, Default, Choices and Catch of any state.
    checks = {**_COMMON, **_ALL_FIELDS}
    for name, check in checks.items():
        if name in state and not check(state[name]):
            out.append(Diagnostic(SCHEMA, f"The value of the field '{name}' is invalid",
                                  f"{at}/{name}"))
    if out:
        return out
    for key, spec in (("Retry", _RETRIER), ("Catch", _CATCHER)):
        for i, entry in enumerate(state.get(key) or []):
            where = f"{at}/{key}[{i}]"
            if not isinstance(entry, dict) or "ErrorEquals" not in entry:
                out.append(Diagnostic(SCHEMA, "These fields are required: [ErrorEquals]", where))
                continue
            out += [Diagnostic(SCHEMA, f"The value of the field '{n}' is invalid", f"{where}/{n}")
                    for n, c in spec.items() if n in entry and not c(entry[n])]
            if key == "Catch" and "Next" not in entry:
                out.append(Diagnostic(SCHEMA, "These fields are required: [Next]", where))
    for i, rule in enumerate(state.get("Choices") or []):
        out += _rule(rule, f"{at}/Choices[{i}]", top=True)
    for i, branch in enumerate(state.get("Branches") or []):
        if not isinstance(branch, dict):
            out.append(Diagnostic(SCHEMA, "A branch must be an object", f"{at}/Branches[{i}]"))
    return out


def _rule(rule: Any, at: str, top: bool) -> list[Diagnostic]:
    if not isinstance(rule, dict):
        return [Diagnostic(SCHEMA, "A choice rule must be an object", at)]
    out: list[Diagnostic] = []
    if top and not isinstance(rule.get("Next"), str):
        out.append(Diagnostic(SCHEMA, "These fields are required: [Next]", at))
    if "Assign" in rule and not isinstance(rule["Assign"], dict):
        out.append(Diagnostic(SCHEMA, "The value of the field 'Assign' is invalid", at))
    if "Condition" in rule:
        return out
    for op in ("And", "Or"):
        if op in rule:
            subs = rule[op]
            if not isinstance(subs, list) or not subs:
                return [*out, Diagnostic(SCHEMA, f"'{op}' needs a non-empty list", f"{at}/{op}")]
            for i, sub in enumerate(subs):
                out += _rule(sub, f"{at}/{op}[{i}]", top=False)
            return out
    if "Not" in rule:
        return out + _rule(rule["Not"], f"{at}/Not", top=False)
    ops = [k for k in rule if k in OPERATORS]
    if len(ops) != 1:
        out.append(Diagnostic(SCHEMA, "A choice rule needs exactly one comparison operator",
                              at))
    elif not isinstance(rule.get("Variable"), str):
        out.append(Diagnostic(SCHEMA, "These fields are required: [Variable]", at))
    else:
        op = ops[0]
        value = rule[op]
        good = (isinstance(value, str) if op.endswith("Path") or op.startswith(
            ("String", "Timestamp")) else isinstance(value, bool) if op.startswith(
            ("Is", "Boolean")) else isinstance(value, (int, float)) and not isinstance(
            value, bool))
        if not good:
            out.append(Diagnostic(SCHEMA, f"The value of '{op}' has the wrong type",
                                  f"{at}/{op}"))
    return out
