from __future__ import annotations

import base64
import json

import jwt
import pytest

from hubbub.auth.keys import Keyring
from hubbub.auth.principal import Principal
from hubbub.auth.tokens import MAX_TOKEN_BYTES, TokenRejected, TokenService
from hubbub.errors import NotAuthorized, UsageError


@pytest.fixture
def service(clock) -> TokenService:
    return TokenService(Keyring.generate(clock=clock), clock, leeway=5)


def sign(service: TokenService, client_id: str = "web-1", ttl: float = 3600) -> str:
    token, _ = service.sign(identity_id="local:abc", client_id=client_id,
                            policy_name="chat-guest", guest=True, ttl=ttl)
    return token


def test_round_trip_gives_typed_principal(service: TokenService, clock) -> None:
    token, principal = service.sign(identity_id="local:abc", client_id="web-1",
                                    policy_name="chat-guest", guest=True, ttl=3600)
    got = service.verify(token, client_id="web-1")
    assert got == principal == Principal("local:abc", "web-1", "chat-guest",
                                         int(clock.now) + 3600, True)
    assert service.verify(token.encode("ascii")) == principal  # MQTT passwords are bytes


def test_header_carries_kid_and_hs256(service: TokenService) -> None:
    header = jwt.get_unverified_header(sign(service))
    assert header["alg"] == "HS256"
    assert header["kid"] == service.keyring.active.kid


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _reason(service: TokenService, token: object, client_id: str | None = None) -> str:
    with pytest.raises(TokenRejected) as info:
        service.verify(token, client_id=client_id)  # type: ignore[arg-type]
    assert isinstance(info.value, NotAuthorized)
    assert info.value.mqtt_reason == 0x87 and info.value.http_status == 403
    assert info.value.reason in str(info.value)
    return info.value.reason


def test_missing(service: TokenService) -> None:
    assert _reason(service, None) == "missing"
    assert _reason(service, "") == "missing"
    assert _reason(service, b"") == "missing"


@pytest.mark.parametrize("garbage", [
    "garbage", "a.b.c", "....", "eyJ.eyJ.sig", "\u00e9t\u00e9", b"\xff\xfe",
    "x" * (MAX_TOKEN_BYTES + 1),
])
def test_garbage_is_malformed(service: TokenService, garbage: object) -> None:
    assert _reason(service, garbage) == "malformed"


def test_token_signed_with_another_key(service: TokenService, clock) -> None:
    other = TokenService(Keyring.generate(clock=clock), clock)
    assert _reason(service, sign(other)) == "unknown_key"
    # Same kid, other secret: a forged signature.
    forged = jwt.encode({"sub": "local:x", "cid": "web-1", "iat": 1, "exp": 2**40,
                         "guest": True, "policy": "chat-backend"}, b"k" * 32,
                        algorithm="HS256", headers={"kid": service.keyring.active.kid})
    assert _reason(service, forged) == "bad_signature"


def test_tampered_payload_fails_signature(service: TokenService) -> None:
    head, _, sig = sign(service).split(".")
    payload = _b64({"sub": "local:abc", "cid": "web-1", "iat": 1, "exp": 2**40,
                    "guest": False, "policy": "chat-backend"})
    assert _reason(service, f"{head}.{payload}.{sig}") == "bad_signature"


def test_alg_none_is_refused(service: TokenService) -> None:
    head = _b64({"alg": "none", "typ": "JWT", "kid": service.keyring.active.kid})
    body = _b64({"sub": "local:x", "cid": "web-1", "iat": 1, "exp": 2**40, "guest": True,
                 "policy": "chat-backend"})
    assert _reason(service, f"{head}.{body}.") == "unsupported_algorithm"


def test_missing_kid_is_malformed(service: TokenService) -> None:
    token = jwt.encode({"sub": "x"}, service.keyring.active.secret, algorithm="HS256")
    assert _reason(service, token) == "malformed"


@pytest.mark.parametrize("claims", [
    {},
    {"sub": "local:x", "cid": "web-1", "iat": 1, "exp": 2**40, "guest": True},  # no policy
    {"sub": "", "cid": "web-1", "iat": 1, "exp": 2**40, "guest": True, "policy": "p"},
    {"sub": "local:x", "cid": 7, "iat": 1, "exp": 2**40, "guest": True, "policy": "p"},
    {"sub": "local:x", "cid": "web-1", "iat": 1, "exp": "later", "guest": True, "policy": "p"},
    {"sub": "local:x", "cid": "web-1", "iat": 1, "exp": True, "guest": True, "policy": "p"},
    {"sub": "local:x", "cid": "web-1", "iat": 1, "exp": 2**40, "guest": 1, "policy": "p"},
    {"sub": "local:x", "cid": "web-1", "iat": 1.5, "exp": 2**40, "guest": True, "policy": "p"},
])
def test_well_signed_but_bad_claims_are_malformed(service: TokenService, claims: dict) -> None:
    key = service.keyring.active
    token = jwt.encode(claims, key.secret, algorithm="HS256", headers={"kid": key.kid})
    assert _reason(service, token) == "malformed"


def test_expiry_uses_injected_clock_and_leeway(service: TokenService, clock) -> None:
    token = sign(service, ttl=60)
    clock.advance(60 + 4)
    assert service.verify(token).client_id == "web-1"  # within the 5 s leeway
    clock.advance(1)
    assert _reason(service, token) == "expired"


def test_issued_in_the_future_is_refused(service: TokenService, clock) -> None:
    token = sign(service)
    clock.advance(-60)
    assert _reason(service, token) == "not_yet_valid"


def test_replayed_with_another_client_id(service: TokenService) -> None:
    token = sign(service, client_id="web-1")
    assert _reason(service, token, client_id="web-2") == "client_id_mismatch"
    assert service.verify(token, client_id="web-1").client_id == "web-1"


def test_rotation_keeps_old_tokens_valid_until_key_dropped(service: TokenService,
                                                           clock) -> None:
    old = sign(service, ttl=100)
    service.keyring.rotate(keep_for=105)
    new = sign(service, ttl=100)
    assert jwt.get_unverified_header(new)["kid"] != jwt.get_unverified_header(old)["kid"]
    assert service.verify(old).client_id == service.verify(new).client_id == "web-1"
    clock.advance(106)
    service.keyring.rotate(keep_for=105)  # drops the first key: its tokens are expired anyway
    assert _reason(service, old) == "unknown_key"


def test_verifier_refreshes_keyring_on_unknown_kid(tmp_path, clock) -> None:
    path = tmp_path / "keys.json"
    server = TokenService(Keyring.load_or_create(path, clock=clock), clock)
    cli = TokenService(Keyring.load(path, clock=clock), clock)
    cli.keyring.rotate()
    token = sign(cli)  # signed with a key the server has not loaded yet
    assert server.verify(token).client_id == "web-1"


@pytest.mark.parametrize("kwargs", [
    {"ttl": 0}, {"ttl": -1}, {"identity_id": ""}, {"client_id": ""}, {"policy_name": ""},
])
def test_sign_misuse(service: TokenService, kwargs: dict) -> None:
    args = {"identity_id": "i", "client_id": "c", "policy_name": "p", "guest": True, "ttl": 1}
    with pytest.raises(UsageError):
        service.sign(**{**args, **kwargs})


def test_negative_leeway_is_misuse(clock) -> None:
    with pytest.raises(UsageError):
        TokenService(Keyring.generate(clock=clock), clock, leeway=-1)
