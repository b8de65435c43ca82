"""Room presence from IoT Core's lifecycle events, debounced so a quick reconnect does not
flap: a disconnect removes the client from a room only if it has not joined it again
within ``presenceDebounceSeconds`` (clients re-join on every connect). Only disconnects
and unsubscribes reach this function (the rules' FROM filters), so a connect or a
subscribe costs no function call."""

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
    if kind == "disconnected":
        delay = float(sdk.settings().get("presenceDebounceSeconds", 3))
        if delay > 0:
            await asyncio.sleep(delay)
        state = await presence.get(key, "state")
        if state is None:
            return {"ok": kind}
        rooms = list(state.get("rooms", []))
        gone = []
        for room in rooms:
            member = await presence.get(f"room#{room}", client_id)
            # a client that came back re-joined after this disconnect: no flap
            if member is not None and int(member.get("joinedAt") or 0) <= int(stamp):
                gone.append(room)
        await _remove(client_id, gone)
        if len(gone) == len(rooms):  # not back anywhere: forget the client
            await presence.delete(key, "state")
        return {"ok": kind, "left": gone}
    if kind == "unsubscribed":
        rooms = [t[len(ROOM_PREFIX):] for t in event.get("topics", [])
                 if isinstance(t, str) and t.startswith(ROOM_PREFIX)]
        await _remove(client_id, rooms)
        return {"ok": kind}
    return {"ignored": kind}
