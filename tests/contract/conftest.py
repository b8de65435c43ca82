"""Fixtures for the contract suites: every engine, real servers started once per session.

The ``clock`` fixture (a ``FakeClock``) comes from tests/conftest.py."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import servers  # noqa: E402  (tests/servers.py, a plain module)


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


async def _memory_tables(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
    from hubbub.tables import create_table_engine
    return create_table_engine("memory", clock=clock)


async def _sqlite_tables(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
    from hubbub.tables import create_table_engine
    return create_table_engine("sqlite", tmp_path / "tables.db", clock=clock)


async def _postgres_tables(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
    from hubbub.tables import create_table_engine
    url = request.getfixturevalue("postgres_url")
    await _truncate_postgres(url)
    return create_table_engine("postgres", url, clock=clock)


async def _dynamodb_tables(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
    pytest.importorskip("moto", reason="the DynamoDB engine runs on moto, not installed")
    from dynamo_engine import DynamoTableEngine  # tests/dynamo_engine.py
    return DynamoTableEngine(clock)


TABLE_ENGINES: dict[str, Builder] = {"memory": _memory_tables, "sqlite": _sqlite_tables,
                                     "postgres": _postgres_tables, "dynamodb": _dynamodb_tables}


async def _memory_stream(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
    from hubbub.streams import create_stream_engine
    return create_stream_engine("memory", clock=clock)


async def _sqlite_stream(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
    from hubbub.streams import create_stream_engine
    return create_stream_engine("sqlite", tmp_path / "stream.db", clock=clock)


async def _redis_stream(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
    from hubbub.streams import create_stream_engine
    url = request.getfixturevalue("redis_url")
    await _flush_redis(url)
    return create_stream_engine("redis", url, clock=clock)


STREAM_ENGINES: dict[str, Builder] = {"memory": _memory_stream, "sqlite": _sqlite_stream,
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
