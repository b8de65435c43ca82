"""Fixtures every test folder may use: a clock that moves only when a test says so.

tests/ is a package, so pytest puts the repository root on sys.path for this file: every
test may import the shared helpers as ``tests.clock``, ``tests.purity``, ``tests.servers``."""

from __future__ import annotations

import pytest
from hypothesis import settings

from tests.clock import FakeClock

# CI (scripts/test) runs `--hypothesis-profile=ci`: the same examples on every run, so a
# red CI run is a regression in the code and never a new random draw. Exploration happens
# when developers run plain `pytest` (random examples, Hypothesis' default); a failure found
# there becomes an explicit case in the test (see tests/unit/chat/test_chat_rules.py).
settings.register_profile("ci", derandomize=True, print_blob=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
