"""API Gateway payload 2.0: event building and response inference."""

from __future__ import annotations

import base64
import json

import pytest

from hubbub.web.events import (
    SECURITY_HEADERS,
    BadHandlerResponse,
    build_event,
    error_response,
    infer_response,
)
from hubbub.web.types import HttpRequest


def _request(**kw: object) -> HttpRequest:
    base: dict[str, object] = dict(
        method="GET", target="/api/rooms/lobby/messages?limit=5", path="/api/rooms/lobby/messages",
        query="limit=5", headers=(("host", "chat.example.com:8080"), ("user-agent", "ua/1")),
        body=b"", http_version="1.1", peer=("10.0.0.7", 5555))
    base.update(kw)
    return HttpRequest(**base)  # type: ignore[arg-type]


def _event(request: HttpRequest, params: dict[str, str] | None = None) -> dict[str, object]:
    return dict(build_event(request, "GET /api/rooms/{room}/messages", params or {},
                            request_id="req-1", epoch_ms=1795745690646))


def test_event_has_every_payload_2_field() -> None:
    ev = build_event(_request(), "GET /api/rooms/{room}/messages", {"room": "lobby"},
                     request_id="req-1", epoch_ms=1795745690646, api_id="api", account_id="123")
    assert ev["version"] == "2.0"
    assert ev["routeKey"] == "GET /api/rooms/{room}/messages"
    assert ev["rawPath"] == "/api/rooms/lobby/messages"
    assert ev["rawQueryString"] == "limit=5"
    assert ev["queryStringParameters"] == {"limit": "5"}
    assert ev["pathParameters"] == {"room": "lobby"}
    assert ev["isBase64Encoded"] is False
    assert "body" not in ev and "cookies" not in ev
    ctx = ev["requestContext"]
    assert ctx == {
        "accountId": "123", "apiId": "api", "domainName": "chat.example.com",
        "domainPrefix": "chat",
        "http": {"method": "GET", "path": "/api/rooms/lobby/messages", "protocol": "HTTP/1.1",
                 "sourceIp": "10.0.0.7", "userAgent": "ua/1"},
        "requestId": "req-1", "routeKey": "GET /api/rooms/{room}/messages", "stage": "$default",
        "time": "27/Nov/2026:02:14:50 +0000", "timeEpoch": 1795745690646,
    }
    json.dumps(ev)  # the event is plain JSON


def test_absent_optional_fields_are_omitted_like_api_gateway() -> None:
    ev = _event(_request(query="", target="/x", path="/x"))
    assert "queryStringParameters" not in ev and "pathParameters" not in ev


def test_headers_lowercased_duplicates_comma_joined_and_cookies_split() -> None:
    headers = (("host", "h"), ("x-a", "1"), ("x-a", "2"), ("cookie", "a=1; b=2"),
               ("cookie", "c=3"))
    ev = _event(_request(headers=headers))
    assert ev["headers"] == {"host": "h", "x-a": "1,2"}
    assert ev["cookies"] == ["a=1", "b=2", "c=3"]


def test_query_parameters_decoded_and_duplicates_joined() -> None:
    ev = _event(_request(query="q=a%20b&q=c+d&empty=&flag"))
    assert ev["queryStringParameters"] == {"q": "a b,c d", "empty": "", "flag": ""}


def test_text_body_passes_as_text() -> None:
    ev = _event(_request(method="POST", body='{"t":"é"}'.encode(),
                         headers=(("host", "h"), ("content-type", "application/json"))))
    assert ev["body"] == '{"t":"é"}' and ev["isBase64Encoded"] is False


@pytest.mark.parametrize("ctype", ["application/octet-stream", "image/png"])
def test_binary_body_is_base64(ctype: str) -> None:
    ev = _event(_request(method="POST", body=b"\x00\xff", headers=(("content-type", ctype),)))
    assert ev["isBase64Encoded"] is True
    assert base64.b64decode(str(ev["body"])) == b"\x00\xff"


def test_text_type_with_invalid_utf8_falls_back_to_base64() -> None:
    ev = _event(_request(method="POST", body=b"\xff", headers=(("content-type", "text/plain"),)))
    assert ev["isBase64Encoded"] is True and ev["body"] == "/w=="


@pytest.mark.parametrize(("value", "body"), [
    ({"a": 1}, b'{"a":1}'), ([1, 2], b"[1,2]"), (3, b"3"), (2.5, b"2.5"), (True, b"true"),
    (None, b"null"),
])
def test_json_inference(value: object, body: bytes) -> None:
    r = infer_response(value)
    assert (r.status, r.body) == (200, body)
    assert ("content-type", "application/json") in r.headers


def test_str_inferred_as_text() -> None:
    r = infer_response("hello")
    assert (r.status, r.body) == (200, b"hello")
    assert ("content-type", "text/plain; charset=utf-8") in r.headers


def test_explicit_response_with_headers_cookies_and_base64() -> None:
    r = infer_response({"statusCode": 201, "headers": {"X-Id": 7, "Content-Type": "image/png"},
                        "body": base64.b64encode(b"\x89PNG").decode(), "isBase64Encoded": True,
                        "cookies": ["a=1; Path=/", "b=2"]})
    assert r.status == 201 and r.body == b"\x89PNG"
    assert r.headers == (("x-id", "7"), ("content-type", "image/png"),
                         ("set-cookie", "a=1; Path=/"), ("set-cookie", "b=2"))


def test_explicit_response_defaults_to_json_content_type() -> None:
    r = infer_response({"statusCode": 200, "body": '{"ok":true}'})
    assert ("content-type", "application/json") in r.headers
    assert infer_response({"statusCode": 204}).body == b""


@pytest.mark.parametrize("bad", [
    {"statusCode": "200"}, {"statusCode": 99}, {"statusCode": True},
    {"statusCode": 200, "body": 5}, {"statusCode": 200, "headers": []},
    {"statusCode": 200, "headers": {"x": "a\r\nb: c"}},
    {"statusCode": 200, "cookies": "a=1"}, {"statusCode": 200, "cookies": ["a\n"]},
    {"statusCode": 200, "body": "!!", "isBase64Encoded": True},
    {"x": float("nan")}, {"x": object()},
])
def test_invalid_handler_results_are_refused(bad: object) -> None:
    with pytest.raises(BadHandlerResponse):
        infer_response(bad)


def test_error_response_is_json_message() -> None:
    r = error_response(404, "Not Found", (("x", "y"),))
    assert r.status == 404 and json.loads(r.body) == {"message": "Not Found"}
    assert r.headers == (("content-type", "application/json"), ("x", "y"))


def test_csp_forbids_inline_and_eval_script() -> None:
    csp = dict(SECURITY_HEADERS)["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe" not in csp
