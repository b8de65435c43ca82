"""Chat commands typed in the message box, answered privately on the sender's inbox.

Each command is a functional pipeline (``hubbub.workflows.pipeline``), translated into a
state machine when it is asked, created with ``sdk.create_state_machine`` and started
with ``sdk.start_execution`` (the talk's "a Lambda function dynamically creating a state
machine executing the logic"):

    /stats      sort(count(map(by_user, history)))
    /top [n]    take(n, filter(not_stopword, sort(count(map(words, history)))))
    /help [c]   map(command_help, commands)

The pipeline runs inside a wrapper: a ``room_history`` Task reads the room's recent
messages into ``$.history``, a one-branch Parallel runs the pipeline (its Catch turns any
failure into an answer), and a ``command_reply`` Task tells the sender. The chat function
returns as soon as the execution has started, so a command never holds up the chat: the
answer arrives on the inbox when the execution ends, within the machine's
``TimeoutSeconds``. Bad commands are refused at once, before anything starts.
"""

from __future__ import annotations

import uuid
from typing import Any

from hubbub.errors import LimitExceeded
from hubbub.functions import sdk
from hubbub.workflows import pipeline

from . import validate
from .pipeline_tasks import HELP

COMMANDS = tuple(HELP)
HELP_TEXT = "Commands: " + ", ".join(COMMANDS) + ". Try /help."
TOP_DEFAULT, TOP_MAX = 10, 50
#: An answer that takes longer is not coming: the execution ends TIMED_OUT.
TIMEOUT_SECONDS = 30
#: Map iterations running at once: enough to keep the functions busy, few enough that a
#: command leaves their concurrency to the chat.
MAX_CONCURRENCY = 16


def parse(text: Any) -> tuple[str, str, dict[str, Any]]:
    """``/top 5`` -> (command, pipeline text, extra input); raises ``validate.Invalid``."""
    if not isinstance(text, str) or not text.strip().startswith("/"):
        raise validate.Invalid("bad_arguments", "A command starts with '/'. " + HELP_TEXT)
    name, *args = text.split()
    name = name.lower()
    if name == "/stats":
        if args:
            raise validate.Invalid("bad_arguments", "/stats takes no arguments.")
        return name, "sort(count(map(by_user, history)))", {}
    if name == "/top":
        if len(args) > 1 or (args and not (args[0].isdigit()
                                           and 1 <= int(args[0]) <= TOP_MAX)):
            raise validate.Invalid("bad_arguments", f"Usage: {HELP['/top']}")
        n = int(args[0]) if args else TOP_DEFAULT
        return name, f"take({n}, filter(not_stopword, sort(count(map(words, history)))))", {}
    if name == "/help":
        if len(args) > 1:
            raise validate.Invalid("bad_arguments", f"Usage: {HELP['/help']}")
        wanted = list(COMMANDS)
        if args:
            arg = "/" + args[0].lower().lstrip("/")
            if arg not in HELP:
                raise validate.Invalid("bad_arguments",
                                       f"No command {args[0][:40]!r}. {HELP_TEXT}")
            wanted = [arg]
        return name, "map(command_help, commands)", {"commands": wanted}
    raise validate.Invalid("unknown_command", f"Unknown command {name[:40]!r}. {HELP_TEXT}")


def definition(command: str, pipeline_text: str) -> dict[str, Any]:
    """The ASL for one command: read the room, run the pipeline, reply (or reply the
    failure). Uses only what AWS Step Functions has, so it runs there unchanged."""
    inner = pipeline.translate(pipeline_text, max_concurrency=MAX_CONCURRENCY)
    who = {"clientId.$": "$.clientId", "room.$": "$.room", "command.$": "$.command"}
    failed = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "ReplyFailure"}]
    states: dict[str, Any] = {}
    start = "Pipeline"
    if "history" in pipeline_text:
        start = "History"
        states["History"] = {"Type": "Task", "Resource": "room_history",
                             "Parameters": {"room.$": "$.room"}, "ResultPath": "$.history",
                             "Catch": failed, "Next": "Pipeline"}
    states["Pipeline"] = {
        "Type": "Parallel", "Branches": [{"StartAt": inner["StartAt"],
                                          "States": inner["States"]}],
        "ResultSelector": {"value.$": "$[0]"}, "ResultPath": "$.result",
        "Catch": failed, "Next": "Reply"}
    counted = "$.history" if "history" in pipeline_text else "$.commands"
    states["Reply"] = {"Type": "Task", "Resource": "command_reply", "End": True,
                       "Parameters": {**who, "value.$": "$.result.value",
                                      "messages.$": f"States.ArrayLength({counted})"}}
    states["ReplyFailure"] = {"Type": "Task", "Resource": "command_reply", "End": True,
                              "Parameters": {**who, "error.$": "$.failure.Error"}}
    return {"Comment": f"chat command {command}: {inner['Comment']}",
            "TimeoutSeconds": TIMEOUT_SECONDS, "StartAt": start, "States": states}


def machine_name(command: str, pipeline_text: str) -> str:
    """One machine per distinct pipeline (``/top 5`` and ``/top 7`` differ), so that
    concurrent commands never start each other's definition."""
    digits = "".join(c for c in pipeline_text if c.isdigit())
    return f"chat-{command.lstrip('/')}" + (f"-{digits}" if digits else "")


async def run(event: dict[str, Any], client_id: str) -> dict[str, Any]:
    """Check the command, create its state machine and start it; returns StartExecution's
    response. The answer is published by the execution's last step."""
    room = validate.room(event.get("room"))
    command, text, extra = parse(event.get("text"))
    name = machine_name(command, text)
    # EXPRESS: a command's execution (a few MB of history over 1,000 messages) is kept in
    # memory for a while, not in the executions table (as AWS keeps none for Express)
    await sdk.create_state_machine(name, definition(command, text), type="EXPRESS")
    try:
        return await sdk.start_execution(
            name, {"clientId": client_id, "room": room, "command": command, **extra},
            name=f"{name}-{uuid.uuid4()}")
    except LimitExceeded:
        raise validate.Invalid("rate_limited", "The server is busy with other commands; "
                               "try again in a moment.") from None
