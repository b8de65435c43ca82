"""Micro-batches from the ``chat`` stream (typing, reactions): one call per batch."""

from __future__ import annotations

from typing import Any


async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"batchItemFailures": []}
