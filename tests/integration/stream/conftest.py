from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubbub.server import Node

from ..chat.conftest import start_node

#: A short batching window keeps the tests fast; folding still happens within it.
WINDOW_MS = 300


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await start_node(tmp_path / "data", extra={"presenceDebounceSeconds": 0,
                                                   "streamBatchingWindowMs": WINDOW_MS})
    try:
        yield n
    finally:
        await n.stop()
