"""The small named functions the chat commands' state machines are made of.

Each is a hubbub function of its own (declared in ``hubbub.json``), so a Task state names
it and the execution history shows every call: ``room_history`` reads the room,
``by_user``, ``words`` and ``not_stopword`` are the pipelines' map and filter functions,
``command_help`` describes a command, ``command_reply`` answers on the sender's inbox.
"""

from __future__ import annotations

import re
from typing import Any

from hubbub.functions import sdk
from hubbub.tables.base import lt

from .common import error, tell

#: Messages a command looks at: the room's most recent ones, at most this many...
HISTORY_LIMIT = 1000
#: ...and at most this many characters of text, so that the state (the history plus a
#: Map's results) stays under Step Functions' 256 KB payload limit, here as on AWS.
HISTORY_CHARS = 48_000

HELP = {
    "/help": "/help [command]: what the commands do.",
    "/stats": "/stats: messages per person in this room (the last 1,000 messages).",
    "/top": "/top [n]: the n most used words in this room, without stop words "
            "(n from 1 to 50, default 10).",
}

#: Words that say little about what a room talks about (English, lower case).
STOP_WORDS = frozenset("""
a about above after again against all am an and any are aren't as at be because been
before being below between both but by can can't cannot could couldn't did didn't do does
doesn't doing don't down during each few for from further get got had hadn't has hasn't
have haven't having he he'd he'll he's her here here's hers herself him himself his how
how's i i'd i'll i'm i've if in into is isn't it it's its itself just let's like me more
most mustn't my myself no nor not now of off on once only or other ought our ours
ourselves out over own same shan't she she'd she'll she's should shouldn't so some such
than that that's the their theirs them themselves then there there's these they they'd
they'll they're they've this those through to too under until up very was wasn't we we'd
we'll we're we've were weren't what what's when when's where where's which while who
who's whom why why's will with won't would wouldn't yes yet you you'd you'll you're
you've your yours yourself yourselves ok okay oh yeah
""".split())

# A word: letters, then letters, digits, apostrophes or hyphens (Unicode aware).
_WORD = re.compile(r"[^\W\d_][\w'’-]*")


async def room_history(event: Any, context: Any) -> list[dict[str, str]]:
    """``{"room"}`` -> the room's recent messages ``[{user, text}]``, oldest first."""
    room = event["room"]
    table = sdk.table("chat")
    out: list[dict[str, str]] = []
    chars, before = 0, None
    while len(out) < HISTORY_LIMIT:
        page = await table.query(room, lt(before) if before else None, forward=False,
                                 limit=min(200, HISTORY_LIMIT - len(out)))
        for item in page.items:
            text = str(item.get("text", ""))
            chars += len(text)
            if chars > HISTORY_CHARS:
                return out[::-1]
            out.append({"user": str(item.get("user", "")), "text": text})
        if page.next_cursor is None or not page.items:
            break
        before = page.items[-1]["id"]
    return out[::-1]


async def by_user(event: Any, context: Any) -> str:
    """A message -> who wrote it."""
    return str(event.get("user", "")) if isinstance(event, dict) else ""


async def words(event: Any, context: Any) -> list[str]:
    """A message -> its words, lower case."""
    text = event.get("text", "") if isinstance(event, dict) else ""
    return _WORD.findall(str(text).lower())


async def not_stopword(event: Any, context: Any) -> bool:
    """A word (or a ``{"key": word, "count": n}`` entry of a sorted count) -> whether it
    says something: not a stop word, more than one letter."""
    word = event.get("key") if isinstance(event, dict) else event
    w = str(word).strip("'’-")
    return len(w) > 1 and w not in STOP_WORDS


async def command_help(event: Any, context: Any) -> str:
    """A command name -> one line on what it does."""
    return HELP.get(str(event), f"{event}: no such command")


def _text(command: str, value: Any, messages: int) -> tuple[str, dict[str, Any]]:
    if command == "/stats":
        rows = [(str(r["key"]), int(r["count"])) for r in value]
        if not rows:
            return "Nobody has written in this room yet.", {"counts": {}, "messages": 0}
        body = ", ".join(f"{u}: {n}" for u, n in rows)
        return (f"Messages per person (last {messages}): {body}",
                {"counts": dict(rows), "messages": messages})
    if command == "/top":
        rows = [(str(r["key"]), int(r["count"])) for r in value]
        if not rows:
            return "No words to count yet.", {"words": [], "messages": messages}
        body = ", ".join(f"{w} ({n})" for w, n in rows)
        return (f"Most used words (last {messages} messages): {body}",
                {"words": [{"word": w, "count": n} for w, n in rows], "messages": messages})
    lines = [str(v) for v in value]
    return "\n".join(lines), {"help": lines}


async def command_reply(event: Any, context: Any) -> dict[str, Any]:
    """The execution's last step: tell the sender the result, or that it failed."""
    client, room, command = event["clientId"], event["room"], event["command"]
    if "error" in event:
        await error(client, "command_failed",
                    f"{command} could not be computed ({event['error']}). Try again later.")
        return {"failed": event["error"]}
    text, data = _text(command, event.get("value"), int(event.get("messages") or 0))
    await tell(client, {"type": "command", "command": command, "room": room, "text": text,
                        "data": data})
    return {"told": client}
