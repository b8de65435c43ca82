"""The chat function: what clients publish on ``chat/out`` that is not a valid message
comes here (the talk's first rule, narrowed: its WHERE leaves valid messages to the
``ChatRepublish`` rule alone, so a chat message costs no function call). Joins get a
welcome on the client's inbox, commands start a state machine, and invalid messages get
an error there."""

from __future__ import annotations

from typing import Any

from hubbub.functions import sdk

from . import commands, validate
from .common import broadcast, error, history_page, members, tell


async def join(event: dict[str, Any], client_id: str) -> None:
    room = validate.room(event.get("room"))
    user = validate.user(event.get("user"))
    presence = sdk.table("presence")
    await presence.put({"pk": f"room#{room}", "sk": client_id, "user": user,
                        "joinedAt": event.get("timestamp")})
    state = await presence.get(f"client#{client_id}", "state") or {
        "pk": f"client#{client_id}", "sk": "state"}
    rooms = sorted(set(state.get("rooms", [])) | {room})
    await presence.put({**state, "rooms": rooms, "user": user})
    limit = int(sdk.settings().get("welcomeHistory", 30))
    history = await history_page(room, before=None, limit=limit)
    people = await members(room)
    await tell(client_id, {"type": "welcome", "room": room, "clientId": client_id,
                           "serverTime": event.get("timestamp"), "history": history,
                           "presence": people})
    await broadcast(room, {"type": "presence", "room": room, "members": people})


async def leave(event: dict[str, Any], client_id: str) -> None:
    room = validate.room(event.get("room"))
    presence = sdk.table("presence")
    if await presence.delete(f"room#{room}", client_id):
        await broadcast(room, {"type": "presence", "room": room,
                               "members": await members(room)})


async def handler(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or not isinstance(event.get("clientId"), str):
        return {"ignored": "no client"}
    client_id = event["clientId"]
    kind = event.get("type")
    try:
        if "message" in event:
            validate.message(event)  # raises: the rule sends only invalid messages here
            return {"ok": "message"}
        if kind == "join":
            await join(event, client_id)
        elif kind == "leave":
            await leave(event, client_id)
        elif kind == "command":
            await commands.run(event, client_id)
        elif kind is None:
            raise validate.Invalid("invalid_json", "Send a JSON object with a 'type' "
                                   "(join, leave, command) or a 'message'.")
        else:
            raise validate.Invalid("invalid_message", f"Unknown type {str(kind)[:40]!r}.")
    except validate.Invalid as exc:
        await error(client_id, exc.code, exc.message)
        return {"error": exc.code}
    return {"ok": kind}
