"""Helpers shared by the chat's functions: instructions to a client, room broadcasts."""

from __future__ import annotations

from typing import Any

from hubbub.functions import sdk
from hubbub.tables.base import between, lt

INBOX = "chat/in/{}"
ROOM = "chat/pub/{}"


async def tell(client_id: str, instruction: dict[str, Any]) -> None:
    """Send a typed instruction to one client's inbox (QoS 1: it matters to that client)."""
    await sdk.publish(INBOX.format(client_id), instruction, qos=1)


async def error(client_id: str, code: str, message: str) -> None:
    await tell(client_id, {"type": "error", "code": code, "message": message})


async def broadcast(room: str, payload: dict[str, Any], qos: int = 0) -> None:
    await sdk.publish(ROOM.format(room), payload, qos=qos)


def public_message(item: dict[str, Any]) -> dict[str, Any]:
    """What clients see of a stored message (the table's TTL bookkeeping stays inside)."""
    return {k: item[k] for k in ("type", "id", "room", "user", "text", "clientId", "timestamp")
            if k in item}


async def history_page(room: str, *, before: str | None, limit: int) -> dict[str, Any]:
    """The ``limit`` messages before id ``before`` (newest page when None), oldest first,
    with the cursor for the page before it (None when the room has nothing older)."""
    page = await sdk.table("chat").query(room, lt(before) if before else None,
                                         forward=False, limit=limit)
    items = await with_reactions(room, [public_message(i) for i in reversed(page.items)])
    older = items[0]["id"] if items and page.next_cursor else None
    return {"messages": items, "before": older}


async def with_reactions(room: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each message's reaction counts (``reactions``: {emoji: n}) from the ``reactions``
    table, written by the stream function: one range query over the page's ids."""
    ids = [m["id"] for m in messages if isinstance(m.get("id"), str)]
    if not ids:
        return messages
    counts: dict[str, Any] = {}
    cursor = None
    while True:  # a page of messages has at most one reactions item per message
        page = await sdk.table("reactions").query(room, between(min(ids), max(ids)),
                                                  limit=1000, cursor=cursor)
        counts.update((i["messageId"], i.get("counts")) for i in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    for m in messages:
        c = counts.get(str(m.get("id")))
        if c:
            m["reactions"] = c
    return messages


async def members(room: str) -> list[dict[str, Any]]:
    page = await sdk.table("presence").query(f"room#{room}", limit=1000)
    return [{"clientId": i["sk"], "user": i.get("user", "")} for i in page.items]
