"""API Gateway HTTP API payload 2.0: build the event from a request, turn what a handler
returns into a response. Pure: the request id and the time come in as arguments.

Reference: "Working with AWS Lambda proxy integrations for HTTP APIs", sections
"Payload format version" and "Lambda function response for format 2.0".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import unquote

from hubbub.web.types import Headers, HttpApiEvent, HttpRequest, HttpResponse

#: Sent on every response (issue 5): no inline or eval'd script, nothing framed.
SECURITY_HEADERS: Headers = (
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
)

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"

# Bodies with these media types reach the handler as text, the rest base64-encoded.
_TEXT_TYPES = frozenset({
    "application/json", "application/xml", "application/javascript",
    "application/x-www-form-urlencoded", "application/graphql",
})


class BadHandlerResponse(Exception):
    """A handler returned something that is not a valid payload 2.0 response."""


def error_response(status: int, message: str, headers: Headers = ()) -> HttpResponse:
    """A JSON error ``{"message": ...}`` as API Gateway sends its own errors."""
    body = json.dumps({"message": message}).encode()
    return HttpResponse(status, (("content-type", JSON_TYPE), *headers), body)


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return True  # API Gateway passes a body without a type through as text
    media = content_type.split(";", 1)[0].strip().lower()
    return (media.startswith("text/") or media in _TEXT_TYPES
            or media.endswith("+json") or media.endswith("+xml"))


def _split_query(raw: str) -> dict[str, str]:
    # Duplicate keys are comma-joined, as API Gateway does in payload 2.0.
    params: dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        key = unquote(key.replace("+", " "))
        value = unquote(value.replace("+", " "))
        params[key] = f"{params[key]},{value}" if key in params else value
    return params


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _clf_time(epoch_ms: int) -> str:
    # API Gateway's requestContext.time: "27/Nov/2026:02:10:47 +0000"
    t = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    # Month names spelled out here: strftime's %b follows the process locale.
    return f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"


def build_event(request: HttpRequest, route_key: str, path_params: Mapping[str, str], *,
                request_id: str, epoch_ms: int, api_id: str = "hubbub",
                account_id: str = "000000000000") -> HttpApiEvent:
    """The payload 2.0 event for ``request`` matched by ``route_key``."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        if name == "cookie":
            # Payload 2.0 moves cookies out of the headers into a list.
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    host = headers.get("host", "localhost")
    domain = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    event: HttpApiEvent = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": f"HTTP/{request.http_version}",
                "sourceIp": request.peer[0] if request.peer else "",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": _clf_time(epoch_ms),
            "timeEpoch": epoch_ms,
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if request.query:
        event["queryStringParameters"] = _split_query(request.query)
    if path_params:
        event["pathParameters"] = dict(path_params)
    if request.body:
        text: str | None = None
        if _is_text(headers.get("content-type")):
            try:
                text = request.body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


def _json_response(value: object) -> HttpResponse:
    try:
        body = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise BadHandlerResponse(f"return value is not JSON-serialisable: {exc}") from exc
    return HttpResponse(200, (("content-type", JSON_TYPE),), body)


def _explicit_response(result: Mapping[str, object]) -> HttpResponse:
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise BadHandlerResponse(f"statusCode must be an integer 100-599, got {status!r}")
    out: list[tuple[str, str]] = []
    raw_headers = result.get("headers")
    raw_headers = {} if raw_headers is None else raw_headers
    if not isinstance(raw_headers, Mapping):
        raise BadHandlerResponse("headers must be an object")
    for name, value in raw_headers.items():
        if not isinstance(name, str) or not isinstance(value, str | int | float | bool):
            raise BadHandlerResponse(f"bad header {name!r}")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if any(c in text or c in name for c in "\r\n\0"):
            raise BadHandlerResponse(f"header {name!r} holds a line break or NUL")
        out.append((name.lower(), text))
    cookies = result.get("cookies")
    cookies = [] if cookies is None else cookies
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise BadHandlerResponse("cookies must be a list of strings")
    for cookie in cookies:
        if any(c in cookie for c in "\r\n\0"):
            raise BadHandlerResponse("a cookie holds a line break or NUL")
        out.append(("set-cookie", cookie))
    body = result.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        if result.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BadHandlerResponse("isBase64Encoded body is not base64") from exc
        else:
            data = body.encode("utf-8")
    else:
        raise BadHandlerResponse("body must be a string")
    if data and not any(name == "content-type" for name, _ in out):
        out.append(("content-type", JSON_TYPE))
    return HttpResponse(status, tuple(out), data)


def infer_response(result: object) -> HttpResponse:
    """Turn a handler's return value into a response, as API Gateway does for payload 2.0:
    a dict with ``statusCode`` is taken as is; any other dict, list, number, bool or None
    becomes a 200 JSON body; a str becomes a 200 text body; bytes an octet stream."""
    if isinstance(result, Mapping):
        if "statusCode" in result:
            return _explicit_response(result)
        return _json_response(result)
    if isinstance(result, str):
        return HttpResponse(200, (("content-type", TEXT_TYPE),), result.encode("utf-8"))
    if isinstance(result, bytes | bytearray | memoryview):
        return HttpResponse(200, (("content-type", "application/octet-stream"),),
                            bytes(result))
    return _json_response(result)
