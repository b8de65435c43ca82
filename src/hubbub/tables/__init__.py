"""Tables (DynamoDB's model): the interface in ``base``, engines chosen by name.

Engines are imported only when chosen, so that an optional dependency (psycopg) is needed
only by whoever picks that engine.
"""

from __future__ import annotations

import importlib
from typing import Any

from hubbub.errors import ConfigError
from hubbub.tables.base import (
    ConditionFailed,
    IfAbsent,
    IfEquals,
    IfExists,
    Page,
    SortKeyCondition,
    Table,
    TableEngine,
    TableSpec,
)

#: Engine name -> "module:Class" (uvicorn-style lazy registry).
TABLE_ENGINES: dict[str, str] = {
    "sqlite": "hubbub.tables.sqlite:SqliteTableEngine",
    "postgres": "hubbub.tables.postgres:PostgresTableEngine",
    "memory": "hubbub.tables.memory:MemoryTableEngine",
}


def load_engine_class(name: str, registry: dict[str, str]) -> Any:
    """Import the class registered under ``name``; ``ConfigError`` if unknown."""
    try:
        target = registry[name]
    except KeyError:
        raise ConfigError(f"unknown engine {name!r}; choose one of {sorted(registry)}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def create_table_engine(name: str, *args: Any, **options: Any) -> TableEngine:
    """``create_table_engine("sqlite", path)``, ``("postgres", dsn)``, ``("memory")``."""
    engine: TableEngine = load_engine_class(name, TABLE_ENGINES)(*args, **options)
    return engine


__all__ = [
    "TABLE_ENGINES", "ConditionFailed", "IfAbsent", "IfEquals", "IfExists", "Page",
    "SortKeyCondition", "Table", "TableEngine", "TableSpec", "create_table_engine",
    "load_engine_class",
]
