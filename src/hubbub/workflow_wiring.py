"""State machines of the application (filled in with hubbub.workflows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


async def start_workflows(node: Any, data: Path) -> None:
    return None
