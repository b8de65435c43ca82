from __future__ import annotations

import re

import pytest

from hubbub.auth.credentials import CredentialIssuer, rate_limit_key
from hubbub.auth.keys import Keyring
from hubbub.auth.ratelimit import RateLimited, RateLimiter
from hubbub.auth.tokens import TokenService
from hubbub.errors import LimitExceeded, UsageError


@pytest.fixture
def issuer(clock) -> CredentialIssuer:
    return CredentialIssuer(Keyring.generate(clock=clock), clock, ttl=3600,
                            rate_limiter=RateLimiter(clock, rate=1, burst=3))


def test_new_guest_gets_identity_client_id_and_ms_expiry(issuer: CredentialIssuer,
                                                          clock) -> None:
    body = issuer.issue("192.0.2.1", mqtt_url="wss://example.test/mqtt")
    assert set(body) == {"token", "clientId", "identityId", "expiresAt", "mqttUrl"}
    assert re.fullmatch(r"web-[0-9a-f]{16}", body["clientId"])
    assert re.fullmatch(r"local:[0-9a-f-]{36}", body["identityId"])
    assert body["expiresAt"] == (int(clock.now) + 3600) * 1000
    assert body["mqttUrl"] == "wss://example.test/mqtt"
    principal = issuer.tokens.verify(body["token"], client_id=body["clientId"])
    assert principal.identity_id == body["identityId"]
    assert principal.guest is True and principal.policy_name == "chat-guest"


def test_mqtt_url_is_optional(issuer: CredentialIssuer) -> None:
    assert "mqttUrl" not in issuer.issue("192.0.2.1")


def test_two_new_guests_are_different(issuer: CredentialIssuer) -> None:
    a, b = issuer.issue("192.0.2.1"), issuer.issue("192.0.2.1")
    assert a["identityId"] != b["identityId"] and a["clientId"] != b["clientId"]


def test_refresh_keeps_identity_and_client_id(issuer: CredentialIssuer, clock) -> None:
    first = issuer.issue("192.0.2.1")
    clock.advance(3000)
    again = issuer.issue("192.0.2.1", first["token"])
    assert again["identityId"] == first["identityId"]
    assert again["clientId"] == first["clientId"]
    assert again["token"] != first["token"]
    assert again["expiresAt"] == first["expiresAt"] + 3000 * 1000


def test_refresh_with_new_client_id_keeps_identity(issuer: CredentialIssuer) -> None:
    first = issuer.issue("192.0.2.1")
    tab = issuer.issue("192.0.2.1", first["token"], new_client_id=True)
    assert tab["identityId"] == first["identityId"] and tab["clientId"] != first["clientId"]


def test_expired_or_forged_token_gets_a_new_identity(issuer: CredentialIssuer, clock) -> None:
    first = issuer.issue("192.0.2.1")
    assert issuer.issue("192.0.2.1", "garbage")["identityId"] != first["identityId"]
    clock.advance(3600 + 31)  # past ttl and the default leeway
    assert issuer.issue("192.0.2.1", first["token"])["identityId"] != first["identityId"]


def test_non_guest_token_is_not_refreshed_into_a_guest(issuer: CredentialIssuer) -> None:
    backend, _ = issuer.tokens.sign(identity_id="local:backend", client_id="backend",
                                    policy_name="chat-backend", guest=False, ttl=60)
    body = issuer.issue("192.0.2.1", backend)
    assert body["identityId"] != "local:backend"
    assert issuer.tokens.verify(body["token"]).policy_name == "chat-guest"


def test_rate_limit_per_address_with_retry_after(issuer: CredentialIssuer, clock) -> None:
    for _ in range(3):
        issuer.issue("192.0.2.1")
    with pytest.raises(RateLimited) as info:
        issuer.issue("192.0.2.1")
    assert isinstance(info.value, LimitExceeded)
    assert info.value.http_status == 429 and info.value.retry_after == 1
    issuer.issue("192.0.2.2")  # another address has its own bucket
    clock.advance(1)
    issuer.issue("192.0.2.1")


def test_ipv6_is_limited_per_64(issuer: CredentialIssuer) -> None:
    for i in range(3):
        issuer.issue(f"2001:db8:1:2::{i + 1}")
    with pytest.raises(RateLimited):
        issuer.issue("2001:db8:1:2:ffff::9")
    issuer.issue("2001:db8:1:3::1")


@pytest.mark.parametrize(("addr", "key"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8::1", "2001:db8::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("unix:/run/sock", "unix:/run/sock"),
])
def test_rate_limit_key(addr: str, key: str) -> None:
    assert rate_limit_key(addr) == key


def test_issuer_picks_up_rotation_from_the_key_file(tmp_path, clock) -> None:
    path = tmp_path / "keys.json"
    issuer = CredentialIssuer(Keyring.load_or_create(path, clock=clock), clock)
    new = Keyring.load(path, clock=clock).rotate()  # `hubbub keys rotate` in another process
    body = issuer.issue("192.0.2.1")
    verifier = TokenService(Keyring.load(path, clock=clock), clock)
    assert verifier.verify(body["token"]).client_id == body["clientId"]
    import jwt
    assert jwt.get_unverified_header(body["token"])["kid"] == new.kid


@pytest.mark.parametrize("kwargs", [{"ttl": 0}, {"client_id_prefix": "web/"},
                                    {"client_id_prefix": "+"}])
def test_issuer_misuse(clock, kwargs: dict) -> None:
    with pytest.raises(UsageError):
        CredentialIssuer(Keyring.generate(clock=clock), clock, **kwargs)
