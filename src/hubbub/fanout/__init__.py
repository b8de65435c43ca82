"""Fan-out between nodes: the interface in ``base``, implementations chosen by name.

``local`` (one machine) has no implementation: nothing to share. Implementations are
imported only when chosen, so that redis-py is needed only by whoever picks ``redis``.
"""

from __future__ import annotations

from typing import Any

from hubbub.fanout.base import Fanout
from hubbub.tables import load_engine_class

#: Fan-out name -> "module:Class" (uvicorn-style lazy registry).
FANOUTS: dict[str, str] = {
    "redis": "hubbub.fanout.redis:RedisFanout",
}


def create_fanout(name: str, *args: Any, **options: Any) -> Fanout:
    """``create_fanout("redis", url, node_id=...)``; ``ConfigError`` for an unknown name."""
    fanout: Fanout = load_engine_class(name, FANOUTS)(*args, **options)
    return fanout


__all__ = ["FANOUTS", "Fanout", "create_fanout"]
