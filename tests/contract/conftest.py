"""Fixtures for the contract suites: every engine, real servers started once per session."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import servers  # noqa: E402  (tests/servers.py, a plain module)


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        with servers.postgres_server() as srv:
            yield srv.url
    except servers.ServerUnavailable as e:
        pytest.skip(f"PostgreSQL unavailable: {e}")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    try:
        with servers.redis_server() as srv:
            yield srv.url
    except servers.ServerUnavailable as e:
        pytest.skip(f"Redis unavailable: {e}")


async def _truncate_postgres(url: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("DROP TABLE IF EXISTS hubbub_items")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def table_engine(request: pytest.FixtureRequest, tmp_path: Path,
                       clock: FakeClock) -> AsyncIterator[Any]:
    from hubbub.tables import create_table_engine

    name = request.param
    if name == "sqlite":
        engine = create_table_engine("sqlite", tmp_path / "tables.db", clock=clock)
    elif name == "postgres":
        url = request.getfixturevalue("postgres_url")
        await _truncate_postgres(url)
        engine = create_table_engine("postgres", url, clock=clock)
    else:
        engine = create_table_engine("memory", clock=clock)
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()


async def _flush_redis(url: str) -> None:
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(url)
    try:
        await r.flushdb()
    finally:
        await r.aclose()


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def stream_engine(request: pytest.FixtureRequest, tmp_path: Path,
                        clock: FakeClock) -> AsyncIterator[Any]:
    from hubbub.streams import create_stream_engine

    name = request.param
    if name == "sqlite":
        engine = create_stream_engine("sqlite", tmp_path / "stream.db", clock=clock)
    elif name == "redis":
        url = request.getfixturevalue("redis_url")
        await _flush_redis(url)
        engine = create_stream_engine("redis", url, clock=clock)
    else:
        engine = create_stream_engine("memory", clock=clock)
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()
