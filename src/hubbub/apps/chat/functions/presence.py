"""Room presence from IoT Core's lifecycle events, debounced so a quick reconnect does not
flap: a disconnect removes the client from its rooms only if it has not come back within
``presenceDebounceSeconds``."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.functions import sdk

from .common import broadcast, members

ROOM_PREFIX = "chat/pub/"


async def _remove(client_id: str, rooms: list[str]) -> None:
    presence = sdk.table("presence")
    for room in rooms:
        if await presence.delete(f"room#{room}", client_id):
            await broadcast(room, {"type": "presence", "room": room,
                                   "members": await members(room)})


async def handler(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or not isinstance(event.get("clientId"), str):
        return {"ignored": True}
    client_id = event["clientId"]
    kind = event.get("eventType")
    stamp = event.get("timestamp", 0)
    presence = sdk.table("presence")
    key = f"client#{client_id}"
    if kind == "connected":
        state = await presence.get(key, "state") or {"pk": key, "sk": "state", "rooms": []}
        await presence.put({**state, "connectedAt": stamp})
        return {"ok": kind}
    if kind == "disconnected":
        delay = float(sdk.settings().get("presenceDebounceSeconds", 3))
        if delay > 0:
            await asyncio.sleep(delay)
        state = await presence.get(key, "state")
        if state is None:
            return {"ok": kind}
        if int(state.get("connectedAt", 0)) > int(stamp):
            return {"ok": "reconnected"}  # came back in time: no flap
        await _remove(client_id, list(state.get("rooms", [])))
        await presence.delete(key, "state")
        return {"ok": kind}
    if kind == "unsubscribed":
        rooms = [t[len(ROOM_PREFIX):] for t in event.get("topics", [])
                 if isinstance(t, str) and t.startswith(ROOM_PREFIX)]
        await _remove(client_id, rooms)
        return {"ok": kind}
    return {"ignored": kind}
