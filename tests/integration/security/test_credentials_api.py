"""``POST /api/credentials`` under abuse: rate limit, bad bodies, refresh, foreign tokens."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from .conftest import FakeClock, Server, start_server
from .peers import V5, credentials, post


async def call(server: Server, body: bytes | None,
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], object]:
    return await asyncio.to_thread(post, f"{server.url}/api/credentials", body, headers)


async def test_rate_limited_per_address_with_retry_after(
        clocked: tuple[Server, FakeClock]) -> None:
    server, clock = clocked
    for _ in range(10):  # the documented burst
        status, _, _ = await call(server, b"{}")
        assert status == 200
    status, headers, body = await call(server, b"{}")
    assert status == 429
    retry = int(headers["retry-after"])
    assert 1 <= retry <= 6  # one token back every 6 s
    assert isinstance(body, dict) and "rate limit" in str(body.get("message", ""))
    # A refresh is a credentials request too: no way around the limit.
    status, _, _ = await call(server, b'{"token": "x"}')
    assert status == 429
    clock.advance(retry)
    status, _, creds = await call(server, b"{}")
    assert status == 200 and isinstance(creds, dict) and creds["token"]


async def test_bad_bodies_get_400_with_a_message(server: Server) -> None:
    for body in (b"not json", b"{", b"\xff\xfe", b"[1, 2]", b'"token"', b"42", b"null"):
        status, headers, answer = await call(server, body)
        assert status == 400, (body, status, answer)
        assert isinstance(answer, dict) and answer["message"], answer
        assert headers["content-type"].startswith("application/json")
    # Wrong types inside a valid object are ignored: a new guest, no error.
    for body in (b'{"token": 5}', b'{"token": null, "newClientId": "yes"}', b""):
        status, _, answer = await call(server, body)
        assert status == 200 and isinstance(answer, dict) and answer["clientId"], answer


async def test_oversized_body_refused(server: Server) -> None:
    status, _, answer = await call(server, b'{"token": "' + b"a" * (2 << 20) + b'"}')
    assert status == 413, (status, answer)


async def test_refresh_keeps_identity_and_client_id(
        clocked: tuple[Server, FakeClock]) -> None:
    server, clock = clocked
    first = await credentials(server.url)
    assert set(first) == {"token", "clientId", "identityId", "expiresAt", "mqttUrl"}
    assert first["clientId"].startswith("web-") and first["identityId"].startswith("local:")
    assert first["expiresAt"] == (int(clock()) + 3600) * 1000
    clock.advance(600)
    again = await credentials(server.url, {"token": first["token"]})
    assert (again["identityId"], again["clientId"]) == (first["identityId"], first["clientId"])
    assert again["token"] != first["token"] and again["expiresAt"] == first["expiresAt"] + 600_000
    tab = await credentials(server.url, {"token": again["token"], "newClientId": True})
    assert tab["identityId"] == first["identityId"] and tab["clientId"] != first["clientId"]
    # Both tokens work, each for its own client id only.
    for creds in (again, tab):
        peer = server.peer(creds["clientId"], creds["token"], version=V5)
        assert await peer.connect() == 0
        peer.close()
    peer = server.peer(first["clientId"], tab["token"], version=V5)
    assert await peer.connect() == 0x87
    peer.close()
    # An expired token is a guest coming back later: a new identity, no error.
    clock.advance(3600 + 31)
    later = await credentials(server.url, {"token": again["token"]})
    assert later["identityId"] != first["identityId"]


async def test_token_from_another_server_refused(server: Server, tmp_path: Path) -> None:
    other = await start_server(tmp_path / "other")
    try:
        foreign = await credentials(other.url)
    finally:
        await other.node.stop()
    # Not a refresh: a brand-new identity, never the foreign one.
    mine = await credentials(server.url, {"token": foreign["token"]})
    assert mine["identityId"] != foreign["identityId"]
    assert mine["clientId"] != foreign["clientId"]
    # And the broker refuses it at CONNECT, with a lifecycle event.
    peer = server.peer(foreign["clientId"], foreign["token"], version=V5)
    assert await peer.connect() == 0x87
    peer.close()
    ev = await server.recorder.wait_for(
        f"$aws/events/presence/connect_failed/{foreign['clientId']}")
    assert json.loads(ev.payload)["failureReason"] == "AUTH_ERROR"


async def test_forwarded_headers_do_not_dodge_the_limit(server: Server) -> None:
    # The bucket is keyed by the peer address; a client-chosen header never picks it.
    statuses = []
    for n in range(11):
        hdrs = {"content-type": "application/json", "x-forwarded-for": f"203.0.113.{n}",
                "x-real-ip": f"198.51.100.{n}", "forwarded": f"for=192.0.2.{n}"}
        status, _, _ = await call(server, b"{}", hdrs)
        statuses.append(status)
    assert statuses == [200] * 10 + [429]
