"""Every state of an ASL definition, the nested ones included: a Map state's
``ItemProcessor`` (``Iterator`` before 2022) and a Parallel state's ``Branches`` each hold a
``States`` object of their own (ASL spec, "Map State", "Parallel State"). Pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: Step Functions' optimized Lambda integration (``Parameters: {FunctionName, Payload}``).
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


def iter_states(definition: Mapping[str, Any],
                at: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(location, state) of every state, each before the states nested in it; locations
    read like ``/States/Fan/Branches/0/States/Send``. What is not an object is passed over
    (validation reports it), so this serves definitions not validated yet."""
    states = definition.get("States")
    if not isinstance(states, Mapping):
        return
    for name, state in states.items():
        if not isinstance(state, Mapping):
            continue
        here = f"{at}/States/{name}"
        yield here, state
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), Mapping):
                yield from iter_states(state[key], f"{here}/{key}")
        for i, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, Mapping):
                yield from iter_states(branch, f"{here}/Branches/{i}")
