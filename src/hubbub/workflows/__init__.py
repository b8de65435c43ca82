"""State machines: an Amazon States Language interpreter and functional pipelines.

Pure modules (no asyncio, socket or time): paths, intrinsics, choice, payload, dialects,
jsonata_mode, history, core, machine, mapstate, execution, validate, pipeline.
Impure shell: runner (asyncio), store (persistence).
"""

from hubbub.workflows.errors import Diagnostic, InvalidDefinition, StatesError
from hubbub.workflows.execution import Execution, StateMachine
from hubbub.workflows.validate import validate_definition

__all__ = [
    "Diagnostic",
    "Execution",
    "InvalidDefinition",
    "StateMachine",
    "StatesError",
    "validate_definition",
]
