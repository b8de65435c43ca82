"""Issue 4: presence is debounced, so a quick reconnect does not flap. A client that drops
and comes back (same credentials, so the same client id) within the debounce window stays
in the room; one that does not come back is removed once the window has passed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from .chatclient import ChatClient
from .conftest import start_node


def _watch_presence_function(node: Any) -> tuple[asyncio.Queue[Any], Any]:
    """Wrap the deployed presence handler to learn when each invocation has finished."""
    results: asyncio.Queue[Any] = asyncio.Queue()
    runtime = node.services.functions
    original = runtime._handlers["presence"]

    async def watched(event: Any, context: Any) -> Any:
        result = await original(event, context)
        await results.put(result)
        return result

    runtime._handlers["presence"] = watched
    return results, original


async def test_quick_reconnect_does_not_flap_and_a_real_leave_does(tmp_path: Path) -> None:
    node = await start_node(tmp_path / "data", extra={"presenceDebounceSeconds": 0.5})
    results, _ = _watch_presence_function(node)
    alice = await ChatClient.create(node.url)
    bob = await ChatClient.create(node.url)
    try:
        await alice.connect()
        await bob.connect()
        await alice.join("den", "alice")
        await bob.join("den", "bob")

        # bob drops and is back (same token: same client id) within the window
        token = bob.creds["token"]
        bob.close()
        bob = await ChatClient.create(node.url, token=token)
        await bob.connect()
        await bob.join("den", "bob")
        outcome = await asyncio.wait_for(results.get(), 10)
        assert outcome == {"ok": "disconnected", "left": []}
        carol = await ChatClient.create(node.url)
        await carol.connect()
        welcome = await carol.join("den", "carol")
        assert {p["user"] for p in welcome["presence"]} == {"alice", "bob", "carol"}

        # carol leaves for good: removed after the window, and the room is told
        carol.close()
        outcome = await asyncio.wait_for(results.get(), 10)
        assert outcome == {"ok": "disconnected", "left": ["den"]}
        await alice.expect(lambda t, p: isinstance(p, dict) and p.get("type") == "presence"
                           and {m["user"] for m in p["members"]} == {"alice", "bob"})
    finally:
        alice.close()
        bob.close()
        await node.stop()
