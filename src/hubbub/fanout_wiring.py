"""Fan-out between nodes, on the engine the config chose (``fanout = "redis"``).

``start_fanout(node)`` is called by ``Node._start`` right after ``await
self.broker.start()`` and before the listeners open: the shared retained messages are
loaded before any client can subscribe, and the fan-out is registered as a broker
observer. Its stop goes on ``node._stack`` before the broker's (pushed after us), so it
runs after the broker's shutdown: the disconnect lifecycle events of that shutdown are
still shared, then what is pending is flushed (bounded wait) and Redis is closed.
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import Any

from hubbub.errors import ConfigError
from hubbub.fanout import Fanout, create_fanout


def new_node_id() -> str:
    """A node id for this process: readable in Redis (host, pid), unique per start."""
    host = socket.gethostname().split(".")[0][:40] or "node"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


async def start_fanout(node: Any, *, node_id: str | None = None,
                       **options: Any) -> Fanout | None:
    """Start the configured fan-out on the started ``node.broker``; None for ``local``.
    The fan-out is also ``node.fanout``; a second call returns it (idempotent)."""
    existing: Fanout | None = getattr(node, "fanout", None)
    if existing is not None:
        return existing
    cfg = node.cfg
    node.fanout = None
    if cfg.fanout == "local":
        return None
    if cfg.fanout != "redis":
        raise ConfigError(f"fanout: unknown fan-out {cfg.fanout!r}")
    options.setdefault("heartbeat_interval", cfg.heartbeat_interval)
    options.setdefault("node_timeout", cfg.node_timeout)
    fanout = create_fanout("redis", cfg.redis_url, node_id=node_id or new_node_id(),
                           **options)
    await fanout.start(node.broker)
    node._stack.push_async_callback(fanout.stop)
    node.broker.add_observer(fanout)
    node.fanout = fanout
    return fanout
