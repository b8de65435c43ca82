"""Errors of the workflow engine.

``StatesError`` is a failure *inside* an execution (it has an ASL error name such as
``States.Runtime`` and a cause); Retry and Catch match on its name. ``InvalidDefinition``
is raised before anything runs, carrying every diagnostic found.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubbub.errors import BadRequest


class StatesError(Exception):
    """An ASL-level failure: ``error`` is the name Retry/Catch match, ``cause`` the text."""

    def __init__(self, error: str | None, cause: str | None = None, *,
                 located: bool = False, quiet: bool = False) -> None:
        super().__init__(f"{error}: {cause}" if cause else str(error))
        # A Fail state may leave out Error; AWS then reports no error name at all.
        self.error = error
        self.cause = cause
        # True once the cause names the state it happened in (or must never be prefixed).
        self.located = located
        # True for checks AWS makes before evaluating anything (a negative Wait, a bad
        # MaxConcurrencyPath value): those fail without an EvaluationFailed event.
        self.quiet = quiet


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a definition, located by a JSON-pointer-like path (``/States/A/Next``)."""

    code: str
    message: str
    location: str
    severity: str = "ERROR"

    def __str__(self) -> str:
        return f"{self.code}: {self.message} at {self.location}"


class InvalidDefinition(BadRequest):
    """The state machine definition is invalid; ``diagnostics`` lists every problem."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        first = diagnostics[0] if diagnostics else None
        text = f"Invalid State Machine Definition: '{first}'" if first else "invalid definition"
        super().__init__(text)
        self.diagnostics = diagnostics


class InvalidStateTest(BadRequest):
    """A TestState request that cannot run: bad JSON in ``input``/``mock``/``context``/
    ``variables``, an unknown state name or inspection level, a mock the state cannot
    take (AWS answers these with ValidationException or InvalidExecutionInput)."""
