"""The state loop: run one ``States`` block (the top level, a Parallel branch or a Map
iteration) as a generator of requests (see ``core``). Pure.

Query-language specifics (JSONPath's InputPath/Parameters/ResultSelector/ResultPath/
OutputPath versus JSONata's Arguments/Output) live in ``dialects``; this module only
sequences states, Retry, Catch, events and the context object.
"""

from __future__ import annotations

from typing import Any

from hubbub.workflows import dialects
from hubbub.workflows.core import (
    Branch,
    Env,
    RunBranches,
    RunTask,
    TaskFailed,
    WaitUntil,
    branch_error,
    error_matches,
)
from hubbub.workflows.errors import StatesError
from hubbub.workflows.history import io_details, iso
from hubbub.workflows.payload import dumps

# Step Functions' payload quota: 256 KiB of UTF-8 per state input/output.
MAX_PAYLOAD = 256 * 1024


# Errors the interpreter itself raises get AWS's "An error occurred while executing the
# state 'X' (entered at the event id #N)." prefix; a state's own failures do not.
_LOCATED_ERRORS = ("States.Runtime", "States.QueryEvaluationError")


class Frame:
    """One running States block (the execution, a branch, an iteration): its variables,
    its query language and the shared environment."""

    def __init__(self, env: Env, variables: dict[str, Any], lang: str,
                 first_prev: int | None = None) -> None:
        self.env = env
        self.variables = variables
        self.lang = lang
        self.first_prev = first_prev

    def event(self, kind: str, details: dict[str, Any] | None = None,
              prev: int | None = None) -> int:
        """Add an event. AWS's previousEventId is the event before it in the history, but
        the first state of an execution points at 0 (as recorded by the conformance data)."""
        if prev is None:
            prev = self.first_prev if self.first_prev is not None else len(
                self.env.history.events)
        self.first_prev = None
        if len(self.env.history.events) >= self.env.max_events:
            raise StatesError("States.Runtime", "The execution reached the maximum number of "
                              f"history events ({self.env.max_events}).", located=True)
        return self.env.history.add(kind, details, prev)


def run_states(block: dict[str, Any], doc: Any, frame: Frame) -> Branch:
    """Generator: run ``block`` from StartAt on ``doc``; returns its output."""
    name: str = block["StartAt"]
    block_lang = block.get("QueryLanguage", frame.lang)
    while True:
        state = block["States"][name]
        kind = state["Type"]
        lang = state.get("QueryLanguage", block_lang)
        frame.env.transitions += 1
        entered = frame.event(f"{kind}StateEntered", io_details(name, "input", doc))
        ctx = dict(frame.env.context)
        ctx["State"] = {"EnteredTime": iso(frame.env.clock()), "Name": name}
        if kind in ("Task", "Map", "Parallel"):  # recorded: only states that can retry
            ctx["State"]["RetryCount"] = 0
        d = dialects.for_language(lang, ctx, frame.variables, frame.env.rng)
        try:
            output, nxt = yield from _run_with_retry(state, name, doc, d, frame, ctx)
            text = check_size(output, name)
        except StatesError as exc:
            quiet = exc.quiet
            if exc.error in _LOCATED_ERRORS and not exc.located:
                exc = _locate(exc, name, entered)
                if not quiet:
                    # Recorded: it points where the state's entry pointed, except in Wait
                    # states, where it points at the entry itself.
                    entered_prev = entered if kind == "Wait" else \
                        frame.env.history.events[entered - 1]["previousEventId"]
                    frame.event("EvaluationFailed", {"error": exc.error, "cause": exc.cause,
                                                     "state": name}, entered_prev)
            if kind in ("Map", "Parallel") and not quiet:
                last = frame.env.history.events[-1]
                after_iteration = last["type"] == "MapIterationFailed"
                frame.event(f"{kind}StateFailed", None,
                            last["previousEventId"] if after_iteration else None)
            catcher = _find_catcher(state, exc)
            if catcher is None:
                raise exc from None
            output = d.catch_output(catcher, doc, error_output(exc))
            nxt = catcher["Next"]
            text = dumps(output)
        # Recorded quirk: MapStateExited points at the event before MapStateSucceeded.
        last = frame.env.history.events[-1]
        quirk = last["previousEventId"] if last["type"] == "MapStateSucceeded" else None
        frame.event(f"{kind}StateExited", {"name": name, "output": text,
                                           "outputDetails": {"truncated": False}}, quirk)
        if nxt is None:
            return output
        name, doc = nxt, output


def _locate(exc: StatesError, name: str, entered: int) -> StatesError:
    return StatesError(
        exc.error,
        f"An error occurred while executing the state '{name}' "
        f"(entered at the event id #{entered}). {exc.cause}",
        located=True,
    )


def error_output(exc: StatesError) -> dict[str, Any]:
    """What a Catch hands on: ``{"Error", "Cause"}``."""
    # Recorded: a timeout has no cause, yet its Catch output says "" (other failures
    # without a cause give null).
    cause = "" if exc.cause is None and exc.error == "States.Timeout" else exc.cause
    return {"Error": exc.error, "Cause": cause}


def retry_delay(retrier: dict[str, Any], retries: int) -> float:
    """Seconds before retry number ``retries + 1`` (ASL spec, "Retrying after error"),
    without jitter."""
    delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** retries
    if "MaxDelaySeconds" in retrier:
        delay = min(delay, retrier["MaxDelaySeconds"])
    return float(delay)


def check_size(output: Any, name: str) -> str:
    """``output`` as JSON text; States.DataLimitExceeded past the payload quota."""
    text = dumps(output)
    if len(text) * 4 > MAX_PAYLOAD and len(text.encode()) > MAX_PAYLOAD:
        raise StatesError(
            "States.DataLimitExceeded",
            f"The state/task '{name}' returned a result with a size exceeding the maximum "
            "number of bytes service limit.",
        )
    return text


def _find_catcher(state: dict[str, Any], exc: StatesError) -> dict[str, Any] | None:
    for c in state.get("Catch", []):
        if error_matches(c.get("ErrorEquals", []), exc.error):
            return c  # type: ignore[no-any-return]
    return None


def _next_of(state: dict[str, Any]) -> str | None:
    return None if state.get("End") else state.get("Next")


def _run_with_retry(
    state: dict[str, Any], name: str, doc: Any, d: dialects.Dialect, frame: Frame,
    ctx: dict[str, Any],
) -> Branch:
    attempts: dict[int, int] = {}
    retry_count = 0
    while True:
        try:
            return (yield from run_state(state, name, doc, d, frame))
        except StatesError as exc:
            if exc.error == "States.Runtime":
                raise
            for i, r in enumerate(state.get("Retry", [])):
                if error_matches(r.get("ErrorEquals", []), exc.error):
                    n = attempts.get(i, 0)
                    if n >= r.get("MaxAttempts", 3):
                        raise
                    attempts[i] = n + 1
                    delay = retry_delay(r, n)
                    if r.get("JitterStrategy") == "FULL":
                        delay = frame.env.rng.uniform(0, delay)
                    yield WaitUntil(frame.env.clock() + delay)
                    retry_count += 1
                    ctx["State"]["RetryCount"] = retry_count
                    break
            else:
                raise


def run_state(
    state: dict[str, Any], name: str, doc: Any, d: dialects.Dialect, frame: Frame
) -> Branch:
    """One attempt at one state; returns (output, next state name or None). Failures
    raise StatesError; Retry and Catch are the caller's."""
    kind = state["Type"]
    nxt = _next_of(state)
    if kind == "Pass":
        out, assigned = d.pass_state(state, doc)
        frame.variables.update(assigned)
        return out, nxt
    if kind == "Succeed":
        return d.plain_output(state, doc), None
    if kind == "Fail":
        error, cause = d.fail_fields(state, doc)
        raise StatesError(error, cause, located=True)
    if kind == "Choice":
        out, target, assigned = d.choice(state, doc)
        frame.variables.update(assigned)
        if target is None:
            raise StatesError("States.NoChoiceMatched", "No Matches!")
        return out, target
    if kind == "Wait":
        until = d.wait_until(state, doc, frame.env.clock())
        yield WaitUntil(until)
        out, assigned = d.finish(state, doc, doc, result_is_input=True)
        frame.variables.update(assigned)
        return out, nxt
    if kind == "Task":
        # $$.Task.Token: the callback token (we never wait for callbacks, but definitions
        # written for AWS pass it along).
        if frame.env.task_tokens:
            execution = frame.env.context.get("Execution") or {}
            d.ctx["Task"] = {"Token": f"{execution.get('Name', 'execution')}-"
                                      f"{len(frame.env.history.events)}"}
        task_input = d.effective_input(state, doc)
        resource = d.resource(state, doc)
        timeout = d.timeout(state, doc)
        frame.event("TaskScheduled", {"resource": resource, "parameters": dumps(task_input),
                                      "timeoutInSeconds": timeout})
        frame.event("TaskStarted", {"resource": resource})
        outcome = yield RunTask(resource, task_input, timeout, name)
        if isinstance(outcome, TaskFailed):
            kind_ev = "TaskTimedOut" if outcome.error == "States.Timeout" else "TaskFailed"
            frame.event(kind_ev, {"error": outcome.error, "cause": outcome.cause or "",
                                  "resource": resource})
            raise StatesError(outcome.error, outcome.cause)
        frame.event("TaskSucceeded", {"resource": resource, "output": dumps(outcome.output)})
        out, assigned = d.finish(state, doc, outcome.output)
        frame.variables.update(assigned)
        return out, nxt
    if kind == "Parallel":
        branch_input = d.effective_input(state, doc)
        frame.event("ParallelStateStarted")
        gens = tuple(
            run_states(b, branch_input, _child(frame, b, d.lang)) for b in state["Branches"]
        )
        outcomes = yield RunBranches(gens, 0, 0)
        failed = next((o for o in outcomes if o is not None and not o.ok), None)
        if failed is not None:
            raise branch_error(failed)
        out, assigned = d.finish(state, doc, [o.value for o in outcomes if o is not None])
        frame.variables.update(assigned)
        return out, nxt
    if kind == "Map":
        from hubbub.workflows.mapstate import run_map

        result = yield from run_map(state, name, doc, d, frame)
        out, assigned = d.finish(state, doc, result)
        frame.variables.update(assigned)
        return out, nxt
    raise StatesError("States.Runtime", f"Unknown state type {kind!r}")


def _child(frame: Frame, block: dict[str, Any], lang: str) -> Frame:
    # Branches read the enclosing variables but their assignments stay local
    # (ASL spec, "Variable scope").
    return Frame(frame.env, dict(frame.variables), block.get("QueryLanguage", lang))


def child_frame(frame: Frame, block: dict[str, Any], lang: str) -> Frame:
    return _child(frame, block, lang)


__all__ = ["Frame", "RunTask", "check_size", "error_output", "retry_delay", "run_state",
           "run_states"]
