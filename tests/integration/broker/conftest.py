from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from broker_env import Env, make_env


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    e = await make_env()
    yield e
    await e.broker.shutdown(timeout=2)
