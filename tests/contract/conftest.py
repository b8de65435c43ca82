"""Fixtures for the contract suites: every engine, real servers started once per session.

The ``clock`` fixture (a ``FakeClock``) comes from tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests import servers

from hubbub.streams import create_stream_engine
from hubbub.tables import create_table_engine


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


async def _flush_redis(url: str) -> None:
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(url)
    try:
        await r.flushdb()
    finally:
        await r.aclose()


# An engine's builder: (request, tmp_path, clock) -> an engine not yet opened.
Builder = Callable[[pytest.FixtureRequest, Path, Any], Awaitable[Any]]


async def _opened(builders: dict[str, Builder], request: pytest.FixtureRequest,
                  tmp_path: Path, clock: Any) -> AsyncIterator[Any]:
    engine = await builders[request.param](request, tmp_path, clock)
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()


def _local(create: Callable[..., Any], filename: str) -> dict[str, Builder]:
    """The builders of the two engines every kind has: memory, and SQLite in ``filename``."""
    async def memory(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
        return create("memory", clock=clock)

    async def sqlite(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
        return create("sqlite", tmp_path / filename, clock=clock)

    return {"memory": memory, "sqlite": sqlite}


async def _postgres_tables(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
    url = request.getfixturevalue("postgres_url")
    await _truncate_postgres(url)
    return create_table_engine("postgres", url, clock=clock)


async def _dynamodb_tables(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
    pytest.importorskip("moto", reason="the DynamoDB engine runs on moto, not installed")
    from tests.dynamo_engine import DynamoTableEngine
    return DynamoTableEngine(clock)


async def _redis_stream(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
    url = request.getfixturevalue("redis_url")
    await _flush_redis(url)
    return create_stream_engine("redis", url, clock=clock)


TABLE_ENGINES: dict[str, Builder] = {**_local(create_table_engine, "tables.db"),
                                     "postgres": _postgres_tables, "dynamodb": _dynamodb_tables}
STREAM_ENGINES: dict[str, Builder] = {**_local(create_stream_engine, "stream.db"),
                                      "redis": _redis_stream}


@pytest.fixture(params=list(TABLE_ENGINES))
async def table_engine(request: pytest.FixtureRequest, tmp_path: Path,
                       clock: Any) -> AsyncIterator[Any]:
    async for engine in _opened(TABLE_ENGINES, request, tmp_path, clock):
        yield engine


@pytest.fixture(params=list(STREAM_ENGINES))
async def stream_engine(request: pytest.FixtureRequest, tmp_path: Path,
                        clock: Any) -> AsyncIterator[Any]:
    async for engine in _opened(STREAM_ENGINES, request, tmp_path, clock):
        yield engine
