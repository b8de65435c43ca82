"""Guest credentials, like Cognito's unauthenticated identities (``POST /api/credentials``).

:meth:`CredentialIssuer.issue` returns the JSON body the HTTP layer sends::

    {"token": "<jwt>", "clientId": "web-…", "identityId": "local:<uuid>",
     "expiresAt": <ms since the epoch, an integer>, "mqttUrl": "wss://…" (if given)}

``expiresAt`` is in milliseconds because that is what JavaScript's ``Date`` takes
(``new Date(expiresAt)``), and an integer so nobody parses time zones.

A guest who presents a still-valid guest token (``existing_token``) keeps the same identity
and, unless it asks for a new one, the same client id: that is a refresh. Anything else (no
token, an expired, forged or non-guest token) gets a brand new identity, without an error,
since an expired token is the ordinary case of a guest coming back later. The policy is
always the issuer's guest policy: a client cannot choose or keep another one through here.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from typing import NotRequired, TypedDict

from hubbub.auth.keys import Keyring
from hubbub.auth.principal import Clock, Principal
from hubbub.auth.ratelimit import RateLimiter
from hubbub.auth.tokens import DEFAULT_LEEWAY, TokenRejected, TokenService
from hubbub.errors import UsageError

DEFAULT_TTL = 3600.0  # one hour, like Cognito's temporary credentials (issue 3)
GUEST_POLICY = "chat-guest"
CLIENT_ID_PREFIX = "web-"
IDENTITY_PREFIX = "local"  # Cognito ids are "<region>:<uuid>"; locally the region is "local"
_FORBIDDEN_IN_CLIENT_ID = frozenset("+#/")


class Credentials(TypedDict):
    """The JSON body of ``POST /api/credentials``."""

    token: str
    clientId: str
    identityId: str
    expiresAt: int
    mqttUrl: NotRequired[str]


def rate_limit_key(source_ip: str) -> str:
    """The rate-limit bucket for an address: IPv4 as is, IPv6 per /64.

    One IPv6 host usually owns a whole /64, so per-address buckets would not limit it.
    Strings that are not IP addresses (e.g. a Unix socket peer) are used verbatim.
    """
    try:
        addr = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


class CredentialIssuer:
    """Hands out guest tokens bound to a server-assigned client id."""

    def __init__(self, keyring: Keyring, clock: Clock, *, ttl: float = DEFAULT_TTL,
                 rate_limiter: RateLimiter | None = None, guest_policy: str = GUEST_POLICY,
                 client_id_prefix: str = CLIENT_ID_PREFIX, leeway: float = DEFAULT_LEEWAY
                 ) -> None:
        if ttl <= 0:
            raise UsageError("ttl must be > 0 seconds")
        if _FORBIDDEN_IN_CLIENT_ID & set(client_id_prefix):
            raise UsageError("client_id_prefix must not contain '+', '#' or '/'")
        self._tokens = TokenService(keyring, clock, leeway=leeway)
        self._keyring = keyring
        self.ttl = ttl
        self._limiter = rate_limiter
        self.guest_policy = guest_policy
        self._prefix = client_id_prefix

    @property
    def tokens(self) -> TokenService:
        """The token service; the broker verifies CONNECT passwords with the same keyring."""
        return self._tokens

    def issue(self, source_ip: str, existing_token: str | None = None, *,
              mqtt_url: str | None = None, new_client_id: bool = False) -> Credentials:
        """Issue or refresh guest credentials for a request from ``source_ip``.

        Raises ``RateLimited`` (HTTP 429, ``retry_after`` for ``Retry-After``) when the
        address asked too often. ``new_client_id`` keeps the identity of a refresh but
        assigns another client id (a second tab of the same guest).
        """
        if self._limiter is not None:
            self._limiter.acquire(rate_limit_key(source_ip))
        self._keyring.refresh()  # pick up a rotation done by `hubbub keys rotate`
        previous = self._reusable(existing_token)
        if previous is None:
            identity_id = f"{IDENTITY_PREFIX}:{uuid.uuid4()}"
            client_id = self._new_client_id()
        else:
            identity_id = previous.identity_id
            client_id = self._new_client_id() if new_client_id else previous.client_id
        token, principal = self._tokens.sign(
            identity_id=identity_id, client_id=client_id, policy_name=self.guest_policy,
            guest=True, ttl=self.ttl)
        body: Credentials = {"token": token, "clientId": client_id,
                             "identityId": identity_id, "expiresAt": principal.expires_at * 1000}
        if mqtt_url is not None:
            body["mqttUrl"] = mqtt_url
        return body

    def _reusable(self, token: str | None) -> Principal | None:
        if not token:
            return None
        try:
            principal = self._tokens.verify(token)
        except TokenRejected:
            return None
        if not principal.guest or principal.policy_name != self.guest_policy:
            return None
        return principal

    def _new_client_id(self) -> str:
        # 64 random bits in hex: never '+', '#' or '/', never guessable.
        return f"{self._prefix}{secrets.token_hex(8)}"
