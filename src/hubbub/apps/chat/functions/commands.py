"""Chat commands typed in the message box, answered privately on the sender's inbox."""

from __future__ import annotations

from typing import Any

from . import validate
from .common import tell

HELP = ("Commands: /help (this text), /stats (messages per person in this room), "
        "/top (the most used words in this room).")


async def run(event: dict[str, Any], client_id: str) -> None:
    room = validate.room(event.get("room"))
    text = event.get("text")
    if not isinstance(text, str) or not text.startswith("/"):
        raise validate.Invalid("bad_arguments", "A command starts with '/'. Try /help.")
    name, _, _args = text.strip().partition(" ")
    name = name.lower()
    if name == "/help":
        await tell(client_id, {"type": "command", "command": name, "room": room, "text": HELP})
        return
    raise validate.Invalid("unknown_command", f"Unknown command {name[:40]!r}. {HELP}")
