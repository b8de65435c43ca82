"""The chat's input rules in Python, to word the errors. The ``ChatRepublish`` and
``ChatToFunction`` rules say the same in IoT SQL (so a valid message needs no function
call); tests/unit/chat/test_chat_rules.py holds the two to the same answers."""

from __future__ import annotations

import re
from typing import Any

ROOM_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
USER_RE = re.compile(r"[^\x00-\x1f\x7f]{1,32}")
MAX_TEXT = 2000


class Invalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def room(value: Any) -> str:
    if not isinstance(value, str) or not ROOM_RE.fullmatch(value):
        raise Invalid("invalid_room", "A room name is 1-64 letters, digits, '.', '-' or '_', "
                      "starting with a letter or digit.")
    return value


def user(value: Any) -> str:
    if not isinstance(value, str) or not USER_RE.fullmatch(value) or not value.strip():
        raise Invalid("invalid_user", "A name is 1-32 characters, without control characters.")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("invalid_message", "A message needs some text.")
    if len(value) > MAX_TEXT:
        raise Invalid("text_too_long", f"A message is at most {MAX_TEXT} characters.")
    return value


def message(event: dict[str, Any]) -> tuple[str, str, str]:
    """Check the talk's message shape ``{room, message: {user, text}}``."""
    msg = event.get("message")
    if not isinstance(msg, dict):
        raise Invalid("invalid_message", "'message' must be an object with 'user' and 'text'.")
    return room(event.get("room")), user(msg.get("user")), text(msg.get("text"))
