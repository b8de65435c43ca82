"""State machines: an Amazon States Language interpreter and functional pipelines.

Pure modules (no asyncio, socket or time): paths, intrinsics, choice, payload, dialects,
jsonata_mode, history, core, machine, mapstate, execution, validate, pipeline, states.
Impure shell: runner (asyncio). ``StateMachineRunner`` and the stores are imported lazily
so that importing the pure core never loads asyncio.
"""

from __future__ import annotations

from typing import Any

from hubbub.workflows import pipeline
from hubbub.workflows.errors import Diagnostic, InvalidDefinition, StatesError
from hubbub.workflows.execution import Execution, StateMachine
from hubbub.workflows.validate import validate_definition

_LAZY = {
    "StateMachineRunner": "hubbub.workflows.runner",
    "ExecutionStore": "hubbub.workflows.store",
    "ExecutionRecord": "hubbub.workflows.store",
    "MemoryExecutionStore": "hubbub.workflows.store",
    "TableExecutionStore": "hubbub.workflows.store",
}

__all__ = [
    "Diagnostic",
    "Execution",
    "ExecutionRecord",
    "ExecutionStore",
    "InvalidDefinition",
    "MemoryExecutionStore",
    "StateMachine",
    "StateMachineRunner",
    "StatesError",
    "TableExecutionStore",
    "pipeline",
    "validate_definition",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hubbub.workflows' has no attribute {name!r}")
