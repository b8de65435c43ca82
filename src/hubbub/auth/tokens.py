"""Short-lived signed tokens: the MQTT password a client presents at CONNECT.

A token is a JWT (RFC 7519) signed with HS256 (HMAC-SHA256, RFC 7518 §3.2) and carrying the
signing key's id in the ``kid`` header (RFC 7515 §4.1.4) so keys rotate without a flag day.

Why a symmetric algorithm: hubbub is both the only issuer and the only verifier (one
process, or nodes sharing ``keys.json``), so public-key signatures buy nothing; HMAC needs no
extra dependency and verifies in microseconds on every CONNECT. A third-party verifier
would be the reason to switch to EdDSA/ES256; the ``kid`` header makes that change local.

Claims: ``sub`` the identity id (``local:<uuid>``, shaped like Cognito's ``region:uuid``),
``cid`` the MQTT client id the token is bound to, ``iat``/``exp`` (NumericDate seconds),
``guest`` and ``policy`` (the policy name the broker evaluates). Time comes from an injected
clock, never from PyJWT's own ``time.time``.
"""

from __future__ import annotations

import math
from typing import Any

import jwt

from hubbub.auth.keys import Keyring
from hubbub.auth.principal import Clock, Principal
from hubbub.errors import NotAuthorized, UsageError

ALGORITHM = "HS256"
DEFAULT_LEEWAY = 30.0  # seconds of clock skew tolerated between nodes (RFC 7519 §4.1.4 "leeway")
#: MQTT 5 DISCONNECT reason when a connection outlives its token: "Maximum connect time".
EXPIRED_DISCONNECT_REASON = 0xA0
MAX_TOKEN_BYTES = 4096  # ours are ~300 bytes; anything far larger is garbage, refused unparsed

# PyJWT's own time checks are off: we check with the injected clock below.
_DECODE_OPTIONS: Any = {
    "verify_signature": True, "verify_exp": False, "verify_iat": False, "verify_nbf": False,
    "verify_aud": False, "verify_iss": False, "require": [],
}


class TokenRejected(NotAuthorized):
    """A token failed verification; ``reason`` is a stable code, the message says more.

    Codes: ``missing``, ``malformed``, ``unsupported_algorithm``, ``unknown_key``,
    ``bad_signature``, ``expired``, ``not_yet_valid``, ``client_id_mismatch``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"token rejected ({reason}): {detail}")
        self.reason = reason


class TokenService:
    """Signs tokens with the keyring's active key and verifies them with any known key."""

    def __init__(self, keyring: Keyring, clock: Clock, *,
                 leeway: float = DEFAULT_LEEWAY) -> None:
        if leeway < 0:
            raise UsageError("leeway must be >= 0 seconds")
        self._keyring = keyring
        self._clock = clock
        self.leeway = leeway

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def sign(self, *, identity_id: str, client_id: str, policy_name: str, guest: bool,
             ttl: float) -> tuple[str, Principal]:
        """Return a new token and the principal it stands for, valid for ``ttl`` seconds."""
        if ttl <= 0:
            raise UsageError("ttl must be > 0 seconds")
        if not identity_id or not client_id or not policy_name:
            raise UsageError("identity_id, client_id and policy_name must be non-empty")
        now = self._clock()
        iat = math.floor(now)
        exp = math.floor(now + ttl)
        key = self._keyring.active
        claims = {"sub": identity_id, "cid": client_id, "iat": iat, "exp": exp,
                  "guest": guest, "policy": policy_name}
        token = jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})
        return token, Principal(identity_id, client_id, policy_name, exp, guest)

    def verify(self, token: str | bytes | None, *, client_id: str | None = None) -> Principal:
        """Return the token's principal or raise :class:`TokenRejected` (a ``NotAuthorized``).

        With ``client_id`` the token must have been issued for that client id (a token
        replayed under another client id is refused).
        """
        if token is None or token == "" or token == b"":
            raise TokenRejected("missing", "no token was presented")
        if isinstance(token, bytes):
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError:
                raise TokenRejected("malformed", "token is not ASCII") from None
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRejected("malformed", f"token longer than {MAX_TOKEN_BYTES} bytes")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenRejected("malformed", "not a JWS compact serialization") from None
        if header.get("alg") != ALGORITHM:
            # Refuses "none" and algorithm-confusion tricks (RFC 8725 §2.1, §3.1).
            raise TokenRejected("unsupported_algorithm",
                                f"algorithm {header.get('alg')!r} is not {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("malformed", "no key id (kid) in the header")
        key = self._keyring.get(kid)
        if key is None and self._keyring.refresh():  # another node may have rotated
            key = self._keyring.get(kid)
        if key is None:
            raise TokenRejected("unknown_key", f"key id {kid!r} is not in the keyring")
        try:
            claims = jwt.decode(token, key.secret, algorithms=[ALGORITHM],
                                options=_DECODE_OPTIONS)
        except jwt.InvalidSignatureError:
            raise TokenRejected("bad_signature", "signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise TokenRejected("malformed", str(exc)) from None
        principal = _principal(claims)
        now = self._clock()
        if now >= principal.expires_at + self.leeway:
            raise TokenRejected("expired", f"token expired at {principal.expires_at}")
        if claims["iat"] > now + self.leeway:
            raise TokenRejected("not_yet_valid", "token issued in the future (clock skew?)")
        if client_id is not None and client_id != principal.client_id:
            raise TokenRejected("client_id_mismatch",
                                "token was issued for another client id")
        return principal


def _principal(claims: dict[str, Any]) -> Principal:
    def need(name: str, kind: type) -> Any:
        value = claims.get(name)
        # bool is an int subclass: a "guest": 1 or "exp": true is malformed, not accepted.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TokenRejected("malformed", f"claim {name!r} missing or not {kind.__name__}")
        if kind is str and not value:
            raise TokenRejected("malformed", f"claim {name!r} is empty")
        return value

    sub, cid, policy = need("sub", str), need("cid", str), need("policy", str)
    need("iat", int)
    exp, guest = need("exp", int), need("guest", bool)
    return Principal(identity_id=sub, client_id=cid, policy_name=policy, expires_at=exp,
                     guest=guest)
