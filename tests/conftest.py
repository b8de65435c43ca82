"""Fixtures every test folder may use: a clock that moves only when a test says so.

tests/ is a package, so pytest puts the repository root on sys.path for this file: every
test may import the shared helpers as ``tests.clock``, ``tests.purity``, ``tests.servers``."""

from __future__ import annotations

import pytest

from tests.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
