"""Several hubbub nodes in one test process sharing a real redis-server and PostgreSQL.

The servers start once per module (tests/servers.py, free ports); every test gets a fresh
PostgreSQL database and an empty Redis. A node is started as in the chat tests, then its
fan-out is started with ``start_fanout`` (the call ``Node._start`` makes when wired).
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubbub.fanout_wiring import start_fanout
from hubbub.server import Node

from ..chat.conftest import start_node

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import servers  # noqa: E402  (tests/servers.py, a plain module)


@pytest.fixture(scope="module")
def redis_srv() -> Iterator[servers.Server]:
    try:
        with servers.redis_server() as srv:
            yield srv
    except servers.ServerUnavailable as e:
        pytest.skip(f"redis-server unavailable: {e}")


@pytest.fixture(scope="module")
def postgres_srv() -> Iterator[servers.Server]:
    try:
        with servers.postgres_server() as srv:
            yield srv
    except servers.ServerUnavailable as e:
        pytest.skip(f"PostgreSQL unavailable: {e}")


@pytest.fixture
async def redis_url(redis_srv: servers.Server) -> str:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_srv.url)
    try:
        await client.flushall()
    finally:
        await client.aclose()
    return redis_srv.url


@pytest.fixture
async def postgres_dsn(postgres_srv: servers.Server) -> str:
    """A database of its own for each test (the chat's rooms and presence start empty)."""
    import psycopg

    name = f"mn_{secrets.token_hex(4)}"
    async with await psycopg.AsyncConnection.connect(postgres_srv.url,
                                                     autocommit=True) as conn:
        await conn.execute(f"CREATE DATABASE {name}")
    return postgres_srv.url.rsplit("/", 1)[0] + "/" + name


StartNode = Callable[..., Awaitable[Node]]


@pytest.fixture
async def cluster(tmp_path: Path, redis_url: str, postgres_dsn: str) -> AsyncIterator[StartNode]:
    """``await cluster("a")`` starts a node sharing this test's Redis and PostgreSQL."""
    nodes: list[Node] = []

    async def start(name: str, **overrides: Any) -> Node:
        settings = {"table_engine": "postgres", "postgres_dsn": postgres_dsn,
                    "fanout": "redis", "stream_engine": "redis", "redis_url": redis_url,
                    "anonymous_policy": "allow-all", **overrides}
        node = await start_node(tmp_path / name, **settings)
        nodes.append(node)
        await start_fanout(node, node_id=name)
        return node

    try:
        yield start
    finally:
        for node in reversed(nodes):
            await node.stop()


def restart_redis(srv: servers.Server) -> None:
    """Start redis-server again on the same port after a test killed it."""
    port = srv.url.rsplit(":", 1)[1].split("/")[0]
    srv.process = subprocess.Popen(
        ["redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", str(srv.workdir),
         "--save", "", "--appendonly", "no", "--protected-mode", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers.wait_until(lambda: servers._redis_ping(int(port)), deadline_s=10,
                       proc=srv.process, what="redis-server")


async def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition the code under test reaches on its own (a reconnect)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
