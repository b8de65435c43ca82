"""The Map state: items, per-item input, concurrency and failure tolerance. Pure.

Inline Maps record their iterations in the execution's history; a DISTRIBUTED Map (run
here in-process like an inline one, without ItemReader) records only ``MapRun*`` events,
as its iterations are child executions with histories of their own on AWS.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hubbub.workflows.core import Branch, BranchOutcome, Env, RunBranches, branch_error
from hubbub.workflows.errors import StatesError
from hubbub.workflows.history import History

if TYPE_CHECKING:
    from hubbub.workflows.dialects import Dialect
    from hubbub.workflows.machine import Frame


def run_map(state: dict[str, Any], name: str, doc: Any, d: Dialect, frame: Frame) -> Branch:
    from hubbub.workflows.machine import child_frame, run_states

    eff, items = d.map_items(state, doc)
    max_conc, tol_count, tol_pct = map_settings(state, doc, d)
    processor = state.get("ItemProcessor") or state.get("Iterator")
    if processor is None:
        raise StatesError("States.Runtime", "Map state without ItemProcessor")
    distributed = (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED"
    last = frame.env.history.events[-1]
    retried = last["type"] == "MapIterationFailed"  # recorded: retry points past the failure
    frame.event("MapStateStarted", {"length": len(items)},
                last["previousEventId"] if retried else None)
    if distributed:
        frame.event("MapRunStarted", {"mapRunArn": f"{frame.env.context['Execution']['Id']}"
                                                   f"/{name}"})
    inputs = [d.map_item_input(state, eff, item, i) for i, item in enumerate(items)]

    def iteration(index: int, item_input: Any) -> Branch:
        child = child_frame(frame, processor, d.lang)
        if distributed:
            child.env = Env(child.env.clock, History(child.env.clock), child.env.rng,
                            child.env.context)
        # Recorded quirk: an iteration's start points where the previous iteration's end
        # pointed (AWS threads iterations apart from each other).
        last = frame.env.history.events[-1]
        prev = last["previousEventId"] if last["type"].startswith("MapIteration") else None
        child.event("MapIterationStarted", {"index": index, "name": name}, prev)
        try:
            out = yield from run_states(processor, item_input, child)
        except StatesError as exc:
            child.event("MapIterationFailed", {"index": index, "name": name})
            raise exc
        child.event("MapIterationSucceeded", {"index": index, "name": name})
        return out

    allowed = allowed_failures(len(items), tol_count, tol_pct)
    gens = tuple(iteration(i, x) for i, x in enumerate(inputs))
    outcomes: list[BranchOutcome | None] = yield RunBranches(gens, int(max_conc), allowed)
    failures = [o for o in outcomes if o is not None and not o.ok]
    if len(failures) > allowed or any(o is None for o in outcomes):
        if distributed:
            frame.event("MapRunFailed")
        if tol_count is None and tol_pct is None:
            raise branch_error(failures[0])
        raise StatesError(
            "States.ExceedToleratedFailureThreshold",
            "The specified tolerated failure threshold for the Map run has been exceeded",
        )
    if distributed:
        frame.event("MapRunSucceeded")
    frame.event("MapStateSucceeded")
    return [o.value if o is not None and o.ok else None for o in outcomes]


def map_settings(state: dict[str, Any], doc: Any, d: Dialect) -> tuple[Any, Any, Any]:
    """(MaxConcurrency (0: unbounded), ToleratedFailureCount, ToleratedFailurePercentage),
    the last two None when not set; bad values fail with States.Runtime."""
    max_conc = d.number_field(state, doc, "MaxConcurrency") or 0
    tol_count = d.number_field(state, doc, "ToleratedFailureCount")
    tol_pct = d.number_field(state, doc, "ToleratedFailurePercentage")
    if tol_count is not None and tol_count < 0:
        raise StatesError("States.Runtime", "ToleratedFailureCount cannot be negative.",
                          quiet=True)
    if tol_pct is not None and not 0 <= tol_pct <= 100:
        raise StatesError("States.Runtime",
                          "ToleratedFailurePercentage must be between 0 and 100.", quiet=True)
    if d.inspect is not None:  # TestState reports them (as AWS does)
        d.inspect["maxConcurrency"] = int(max_conc)
        if tol_count is not None:
            d.inspect["toleratedFailureCount"] = int(tol_count)
        if tol_pct is not None:
            d.inspect["toleratedFailurePercentage"] = float(tol_pct)
    return max_conc, tol_count, tol_pct


def allowed_failures(n: int, count: Any, pct: Any) -> int:
    """How many of ``n`` iterations may fail under ToleratedFailureCount/Percentage."""
    allowed = 0
    if count is not None:
        allowed = max(allowed, int(count))
    if pct is not None:
        allowed = max(allowed, math.floor(n * float(pct) / 100))
    return allowed
