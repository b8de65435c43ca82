"""Point a state machine's Task states at Lambda ARNs, as Step Functions needs.

Locally a Task's ``Resource`` may name a hubbub function by its bare name (``room_history``);
Step Functions accepts only ARNs there ("Resource: a URI, especially an ARN", ASL spec,
Task State). The same holds for ``Parameters.FunctionName`` of the optimized Lambda
integration (``arn:aws:states:::lambda:invoke``), where a bare name would resolve to a
function of that name in the account, not to this stack's ``{stack}-{name}``. Both the SAM
export (placeholders filled by ``DefinitionSubstitutions``) and the Lambda shim (real ARNs
for machines created at run time) rewrite definitions with ``rewrite_tasks``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from hubbub.errors import ConfigError
from hubbub.workflows.states import LAMBDA_INVOKE, iter_states


def _function_of(resource: str) -> str | None:
    """The hubbub function a Resource string names, or None if it names something else."""
    # An ARN (a Lambda function's, or a service integration's) is left as its author wrote it.
    return None if resource.startswith("arn:") else resource


def rewrite_tasks(definition: Mapping[str, Any],
                  arn_of: Callable[[str], str]) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``definition`` whose Task states name functions by ``arn_of(name)``;
    also returns the function names it rewrote (in order of appearance, unique).
    ``arn_of`` raises ``ConfigError`` for a name it does not know."""
    out = copy.deepcopy(dict(definition))
    seen: list[str] = []

    def use(name: str, where: str) -> str:
        try:
            arn = arn_of(name)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if name not in seen:
            seen.append(name)
        return arn

    for here, st in iter_states(out):
        res = st.get("Resource")
        if not isinstance(st, dict) or st.get("Type") != "Task" or not isinstance(res, str):
            continue
        if res.startswith(LAMBDA_INVOKE):
            for key in ("Parameters", "Arguments"):
                params = st.get(key)
                if isinstance(params, dict) and isinstance(params.get("FunctionName"), str):
                    fn = _function_of(params["FunctionName"])
                    if fn is not None:
                        params["FunctionName"] = use(fn, f"{here}/{key}/FunctionName")
        else:
            fn = _function_of(res)
            if fn is not None:
                st["Resource"] = use(fn, f"{here}/Resource")
    return out, seen
