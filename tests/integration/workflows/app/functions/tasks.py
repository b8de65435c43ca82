"""Functions of the workflow test application."""

from __future__ import annotations

from typing import Any

from hubbub.functions import sdk


async def double(event: Any, context: Any) -> Any:
    return event["x"] * 2


async def is_even(event: Any, context: Any) -> bool:
    return bool(event % 2 == 0)


async def boom(event: Any, context: Any) -> Any:
    raise ValueError("no luck")


async def make_machine(event: Any, context: Any) -> Any:
    """A function that translates a pipeline and creates a state machine at run time."""
    from hubbub.workflows import pipeline

    return await sdk.create_state_machine(event["name"],
                                          pipeline.translate(event["pipeline"]))


async def start(event: Any, context: Any) -> Any:
    return await sdk.start_execution(event["machine"], event.get("input"), event.get("name"))
