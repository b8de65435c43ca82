"""The stream (Kinesis' model): interface in ``base``, engines chosen by name, the pure
``batcher`` and the asyncio ``consumer`` that feeds a function in Kinesis event shape."""

from __future__ import annotations

from typing import Any

from hubbub.streams.base import PutResult, Record, StreamEngine, StreamSpec
from hubbub.tables import load_engine_class

#: Engine name -> "module:Class" (imported only when chosen).
STREAM_ENGINES: dict[str, str] = {
    "sqlite": "hubbub.streams.sqlite:SqliteStreamEngine",
    "redis": "hubbub.streams.redis:RedisStreamEngine",
    "memory": "hubbub.streams.memory:MemoryStreamEngine",
}


def create_stream_engine(name: str, *args: Any, **options: Any) -> StreamEngine:
    """``create_stream_engine("sqlite", path)``, ``("redis", url)``, ``("memory")``."""
    engine: StreamEngine = load_engine_class(name, STREAM_ENGINES)(*args, **options)
    return engine


__all__ = ["STREAM_ENGINES", "PutResult", "Record", "StreamEngine", "StreamSpec",
           "create_stream_engine"]
