"""JSONPath-mode input/output processing (ASL spec, "Input and Output Processing").

InputPath -> Parameters -> (the state's work) -> ResultSelector -> ResultPath -> OutputPath.
A ``Scope`` says what ``$`` (the current document), ``$$`` (the context object) and
``$name`` (a variable) resolve to. Pure.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from hubbub.workflows import intrinsics, paths
from hubbub.workflows.errors import StatesError
from hubbub.workflows.paths import NoMatch

_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)(.*)\Z", re.DOTALL)


def dumps(v: Any) -> str:
    """JSON the way AWS prints documents in error causes: compact."""
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Scope:
    doc: Any
    context: dict[str, Any]
    variables: dict[str, Any]
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def with_doc(self, doc: Any) -> Scope:
        return Scope(doc, self.context, self.variables, self.rng)

    def resolve(self, path: str) -> Any:
        """Read ``path``; raises NoMatch when a definite path selects nothing."""
        if path.startswith("$$"):
            return paths.select(self.context, path[1:])
        m = _VAR.match(path)
        if m:
            name, rest = m.group(1), m.group(2)
            if name not in self.variables:
                raise NoMatch(path)
            return paths.select(self.variables[name], "$" + rest)
        return paths.select(self.doc, path)

    def value_of(self, expr: str, where: str) -> Any:
        """A ``.$`` field's value: an intrinsic call or a path."""
        if intrinsics.is_intrinsic(expr):
            return intrinsics.evaluate(expr, self._strict, self.rng)
        try:
            return self.resolve(expr)
        except NoMatch:
            raise StatesError(
                "States.Runtime",
                f"The JSONPath '{expr}' specified for the field '{where}' could not be found "
                f"in the input '{dumps(self.doc)}'",
            ) from None

    def _strict(self, path: str) -> Any:
        try:
            return self.resolve(path)
        except NoMatch:
            raise StatesError(
                "States.Runtime",
                f"The JSONPath '{path}' could not be found in the input '{dumps(self.doc)}'",
            ) from None


def select_path(doc: Any, path: str | None, scope: Scope) -> Any:
    """InputPath / OutputPath / ItemsPath: ``null`` means ``{}``; missing is a runtime error."""
    if path is None:
        return {}
    try:
        return scope.with_doc(doc).resolve(path)
    except NoMatch:
        raise StatesError(
            "States.Runtime",
            f"Invalid path '{path}' : {_missing(doc, path, scope)}",
            quiet=True,  # recorded: no EvaluationFailed event for Input/OutputPath misses
        ) from None


def _missing(doc: Any, path: str, scope: Scope) -> str:
    if path.startswith("$$"):
        return paths.missing_message(scope.context, path[1:])
    if path.startswith("$") and path[1:2] not in ("", ".", "["):
        return f"No results for path: {path}"
    return paths.missing_message(doc, path)


def template(tmpl: Any, scope: Scope) -> Any:
    """Parameters / ResultSelector / ItemSelector: copy ``tmpl``, evaluating ``.$`` fields."""
    if isinstance(tmpl, dict):
        out: dict[str, Any] = {}
        for k, v in tmpl.items():
            if k.endswith(".$") and isinstance(v, str):
                out[k[:-2]] = scope.value_of(v, k)
            else:
                out[k] = template(v, scope)
        return out
    if isinstance(tmpl, list):
        return [template(v, scope) for v in tmpl]
    return tmpl


def assign(spec: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """Evaluate an ``Assign`` block; every value sees the variables as they were before."""
    return template(spec, scope)  # type: ignore[no-any-return]


def result_path(state_input: Any, result: Any, path: str | None, absent: bool) -> Any:
    """Combine input and result; ``absent`` means the field was not in the definition."""
    if absent or path == "$":
        return result
    if path is None:
        return state_input
    return paths.put(state_input, path, result)
