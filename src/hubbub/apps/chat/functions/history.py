"""``GET /api/rooms/{room}/messages?before=&after=&limit=``: a room's history, paged.

``before`` pages back in time (scrolling up); ``after`` catches up after a reconnect.
Messages come oldest first. API Gateway HTTP API (payload 2.0) event and response."""

from __future__ import annotations

import json
from typing import Any

from hubbub.functions import sdk
from hubbub.tables.base import gt

from . import validate
from .common import history_page, public_message, with_reactions


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json",
                                              "cache-control": "no-store"},
            "body": json.dumps(body, ensure_ascii=False)}


async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    params = event.get("queryStringParameters") or {}
    try:
        room = validate.room((event.get("pathParameters") or {}).get("room"))
    except validate.Invalid as exc:
        return _response(400, {"message": exc.message, "code": exc.code})
    max_limit = int(sdk.settings().get("pageLimit", 50))
    try:
        limit = int(params.get("limit", max_limit))
    except ValueError:
        return _response(400, {"message": "limit must be a number", "code": "bad_arguments"})
    if not 1 <= limit <= 100:
        return _response(400, {"message": "limit must be 1-100", "code": "bad_arguments"})
    before, after = params.get("before"), params.get("after")
    if before and after:
        return _response(400, {"message": "use before or after, not both",
                               "code": "bad_arguments"})
    for v in (before, after):
        if v is not None and (len(v) > 100 or not v.isprintable()):
            return _response(400, {"message": "bad message id", "code": "bad_arguments"})
    if after:
        page = await sdk.table("chat").query(room, gt(after), forward=True, limit=limit)
        messages = await with_reactions(room, [public_message(i) for i in page.items])
        return _response(200, {"room": room, "messages": messages,
                               "more": page.next_cursor is not None})
    result = await history_page(room, before=before, limit=limit)
    return _response(200, {"room": room, **result})
