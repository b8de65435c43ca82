"""Streams of the application and their consumers (filled in with hubbub.streams)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


async def start_streams(node: Any, data: Path) -> None:
    return None
