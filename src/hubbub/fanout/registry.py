"""Where nodes beat and record their clients: Redis, and an in-memory model of it.

Keys (``prefix`` defaults to ``hubbub:``):

| key | type | holds |
|---|---|---|
| ``nodes`` | sorted set | node id -> last beat (ms, the node's clock) |
| ``clients:{node}`` | hash | client id -> the connected event the node published for it |
| ``reap:{node}`` | string, PX | the id of the node reaping ``node`` (the election lock) |
| ``reaped:{node}`` | string, EX | left by a finished reap, so that ``node`` knows it was |

Every step that must not interleave with another node's is one Lua script (Redis runs
a script atomically): the election checks that the node is still stale *and* takes the
lock (``SET NX PX``) in one step, so a node that beats again in time is never reaped and
exactly one survivor wins; a beat refuses while a reap lock exists, so the reaped node
cannot register again mid-reap; the reap's end (``FINISH``) acts only while its lock is
still the caller's, so a reaper whose lock expired (it was slow) cannot remove records
a newer reaper or the returning node wrote. The dead node's records are removed only
after its clients' events were published: a reaper that dies midway leaves them for the
next election (the lock expires), at the price of some events published twice.

``MemoryRegistry`` is the same state machine over dicts, for the pure unit tests and as
the contract the Redis one is tested against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from hubbub.fanout.liveness import Beat, connected_at

#: How long a finished reap's trace is kept: a node paused longer than this comes back
#: without learning that it was declared dead (it registers as new, not fenced).
REAPED_TTL_S = 86_400

BEAT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  return 1
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  if ARGV[3] ~= '1' then return 0 end
  redis.call('DEL', KEYS[3])
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  return 1
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 2
"""

ELECT = """
local last = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not last or tonumber(last) >= tonumber(ARGV[3]) then return false end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[4]) then return last end
return false
"""

FINISH = """
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[2])
redis.call('SET', KEYS[4], ARGV[2], 'EX', ARGV[3])
return 1
"""


class Registry(Protocol):
    """Liveness and client records shared by the nodes."""

    async def beat(self, node: str, now_ms: int, rejoin: bool) -> Beat:
        """Record a beat; ``rejoin`` registers again a node that was reaped (fenced)."""

    async def beats(self) -> dict[str, float]:
        """Every registered node -> its last beat (ms)."""

    async def elect(self, dead: str, me: str, now_ms: int, timeout_ms: int,
                    lock_ms: int) -> float | None:
        """Take ``dead``'s reap lock if it is still stale; its last beat if we won."""

    async def clients(self, node: str) -> dict[str, bytes]:
        """``node``'s client records (client id -> connected event)."""

    async def holders(self, client_ids: list[str], nodes: Iterable[str]) -> dict[str, int]:
        """Client id -> when it connected to one of ``nodes`` (the latest), if it did."""

    async def record(self, node: str, client_id: str, event: bytes | None) -> None:
        """Record (``event``) or forget (None) that ``node`` holds ``client_id``."""

    async def finish(self, dead: str, me: str) -> bool:
        """Remove ``dead``'s registration and records if ``me`` still holds its lock."""

    async def leave(self, node: str) -> None:
        """A clean stop: remove ``node``'s registration and records."""


class MemoryRegistry:
    """The registry's state machine over dicts (one process; tests)."""

    def __init__(self) -> None:
        self.nodes: dict[str, float] = {}
        self.records: dict[str, dict[str, bytes]] = {}
        self.locks: dict[str, tuple[str, int]] = {}  # dead -> (reaper, expires ms)
        self.reaped: set[str] = set()
        self._now = 0  # the latest time a caller gave, to expire locks

    def _lock(self, node: str) -> str | None:
        held = self.locks.get(node)
        if held is not None and held[1] <= self._now:
            del self.locks[node]
            return None
        return held[0] if held else None

    async def beat(self, node: str, now_ms: int, rejoin: bool) -> Beat:
        self._now = max(self._now, now_ms)
        if self._lock(node) is not None:
            return Beat.REAPING
        if node in self.nodes:
            self.nodes[node] = now_ms
            return Beat.ALIVE
        if node in self.reaped:
            if not rejoin:
                return Beat.REAPED
            self.reaped.discard(node)
            self.nodes[node] = now_ms
            return Beat.ALIVE
        self.nodes[node] = now_ms
        return Beat.UNKNOWN

    async def beats(self) -> dict[str, float]:
        return dict(self.nodes)

    async def elect(self, dead: str, me: str, now_ms: int, timeout_ms: int,
                    lock_ms: int) -> float | None:
        self._now = max(self._now, now_ms)
        last = self.nodes.get(dead)
        if last is None or last >= now_ms - timeout_ms or self._lock(dead) is not None:
            return None
        self.locks[dead] = (me, now_ms + lock_ms)
        return last

    async def clients(self, node: str) -> dict[str, bytes]:
        return dict(self.records.get(node, {}))

    async def holders(self, client_ids: list[str], nodes: Iterable[str]) -> dict[str, int]:
        return _latest({n: self.records.get(n, {}) for n in nodes}, client_ids)

    async def record(self, node: str, client_id: str, event: bytes | None) -> None:
        if event is None:
            self.records.get(node, {}).pop(client_id, None)
        else:
            self.records.setdefault(node, {})[client_id] = event

    async def finish(self, dead: str, me: str) -> bool:
        if self._lock(dead) != me:
            return False
        self.nodes.pop(dead, None)
        self.records.pop(dead, None)
        del self.locks[dead]
        self.reaped.add(dead)
        return True

    async def leave(self, node: str) -> None:
        self.nodes.pop(node, None)
        self.records.pop(node, None)


class RedisRegistry:
    """The registry in Redis; ``client`` is a redis-py asyncio client (bytes replies)."""

    def __init__(self, client: Any, prefix: str = "hubbub:") -> None:
        self.client = client
        self.prefix = prefix
        self.nodes_key = prefix + "nodes"

    def clients_key(self, node: str) -> str:
        return f"{self.prefix}clients:{node}"

    def _lock_key(self, node: str) -> str:
        return f"{self.prefix}reap:{node}"

    def _reaped_key(self, node: str) -> str:
        return f"{self.prefix}reaped:{node}"

    async def beat(self, node: str, now_ms: int, rejoin: bool) -> Beat:
        res = await self.client.eval(BEAT, 3, self.nodes_key, self._lock_key(node),
                                     self._reaped_key(node), node, now_ms, int(rejoin))
        return Beat(int(res))

    async def beats(self) -> dict[str, float]:
        pairs = await self.client.zrange(self.nodes_key, 0, -1, withscores=True)
        return {_str(n): float(s) for n, s in pairs}

    async def elect(self, dead: str, me: str, now_ms: int, timeout_ms: int,
                    lock_ms: int) -> float | None:
        res = await self.client.eval(ELECT, 2, self.nodes_key, self._lock_key(dead),
                                     dead, me, now_ms - timeout_ms, lock_ms)
        return None if res is None else float(res)

    async def clients(self, node: str) -> dict[str, bytes]:
        raw = await self.client.hgetall(self.clients_key(node))
        return {_str(k): bytes(v) for k, v in raw.items()}

    async def holders(self, client_ids: list[str], nodes: Iterable[str]) -> dict[str, int]:
        nodes = list(nodes)
        if not client_ids or not nodes:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for node in nodes:
            pipe.hmget(self.clients_key(node), client_ids)
        rows = await pipe.execute()
        found = {node: {cid: v for cid, v in zip(client_ids, row, strict=True) if v}
                 for node, row in zip(nodes, rows, strict=True)}
        return _latest(found, client_ids)

    async def record(self, node: str, client_id: str, event: bytes | None) -> None:
        pipe = self.client.pipeline(transaction=False)
        self.queue_record(pipe, node, client_id, event)
        await pipe.execute()

    def queue_record(self, pipe: Any, node: str, client_id: str, event: bytes | None) -> None:
        """Add the record's write to ``pipe``."""
        self.queue_records(pipe, node, {client_id: event})

    def queue_records(self, pipe: Any, node: str, records: Mapping[str, bytes | None]) -> None:
        """Add the records' writes to ``pipe`` (the fan-out's sender pipeline): one HDEL
        of the forgotten, one HSET of the others."""
        gone = [cid for cid, event in records.items() if event is None]
        held = {cid: event for cid, event in records.items() if event is not None}
        if gone:
            pipe.hdel(self.clients_key(node), *gone)
        if held:
            pipe.hset(self.clients_key(node), mapping=held)

    def queue_reset(self, pipe: Any, node: str, held: Mapping[str, bytes]) -> None:
        """Replace ``node``'s records by ``held`` (after a fence or a Redis outage)."""
        pipe.delete(self.clients_key(node))
        if held:
            pipe.hset(self.clients_key(node), mapping=dict(held))

    async def finish(self, dead: str, me: str) -> bool:
        res = await self.client.eval(FINISH, 4, self.nodes_key, self._lock_key(dead),
                                     self.clients_key(dead), self._reaped_key(dead),
                                     dead, me, REAPED_TTL_S)
        return bool(res)

    async def leave(self, node: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(self.nodes_key, node)
        pipe.delete(self.clients_key(node))
        await pipe.execute()


def _latest(found: Mapping[str, Mapping[str, bytes]], client_ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for records in found.values():
        for cid in client_ids:
            rec = records.get(cid)
            ts = connected_at(rec) if rec is not None else None
            if ts is not None and ts > out.get(cid, -1):
                out[cid] = ts
    return out


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
