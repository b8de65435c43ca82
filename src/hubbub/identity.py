"""Who may connect: tokens and policies wired into the broker's authenticator hook,
and the ``POST /api/credentials`` route (Cognito identity pool's job, locally)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from hubbub.auth.credentials import CredentialIssuer
from hubbub.auth.documents import PolicyDocument, load_policy_file
from hubbub.auth.policy import PolicyEngine, check_client_id
from hubbub.auth.tokens import TokenService
from hubbub.auth.violations import ViolationCounter
from hubbub.broker.hooks import (
    ALLOW_ALL,
    ConnectDecision,
    ConnectRequest,
    Identity,
)
from hubbub.errors import ConfigError, NotAuthorized

log = logging.getLogger("hubbub.identity")

ALLOW_ALL_POLICY = "allow-all"
NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = 0x86  # Bad User Name or Password
CLIENT_ID_NOT_VALID = 0x85


#: Operator policies: ``<data>/policies/NAME.json`` (an IoT policy document each), for
#: clients given a token naming them (``hubbub keys issue --policy NAME``).
POLICY_DIR = "policies"
ANONYMOUS_POLICY = "anonymous"


def load_policies(app_policies: Mapping[str, Mapping[str, Any]], data: Path,
                  anonymous_policy: str | None) -> dict[str, PolicyDocument]:
    """Every policy a node knows: the application's, the operator's, the anonymous one."""
    docs = {name: PolicyDocument.parse(name, raw) for name, raw in app_policies.items()}
    folder = data / POLICY_DIR
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            doc = load_policy_file(path)
            if doc.name in docs or doc.name == ANONYMOUS_POLICY:
                raise ConfigError(f"{path}: policy name {doc.name!r} is taken by the "
                                  "application (or reserved); rename the file")
            docs[doc.name] = doc
    if anonymous_policy and anonymous_policy != ALLOW_ALL_POLICY:
        docs[ANONYMOUS_POLICY] = load_policy_file(Path(anonymous_policy), ANONYMOUS_POLICY)
    return docs


class TokenAuthenticator:
    """CONNECT with a hubbub token as the password; optional anonymous policy."""

    def __init__(self, tokens: TokenService, policies: PolicyEngine, *,
                 anonymous_policy: str | None, clock: Callable[[], float]) -> None:
        self._tokens = tokens
        self._policies = policies
        self._anonymous = anonymous_policy
        self._clock = clock
        self._violations: dict[str, ViolationCounter] = {}

    async def authenticate(self, req: ConnectRequest) -> ConnectDecision:
        try:
            # docs/security.md: ids with '+', '#' or '/' get 0x85 whatever the policy or
            # token says ('/' would make chat/in/${iot:ClientId} another path).
            check_client_id(req.client_id)
        except NotAuthorized as exc:
            log.info("refused %r from %s: %s", req.client_id, req.peer_ip, exc)
            return ConnectDecision.refuse(exc.mqtt_reason)
        if not req.password:
            return self._anonymous_decision(req)
        try:
            principal = self._tokens.verify(req.password, client_id=req.client_id)
            authorizer = self._policies.authorizer_for(principal)
        except NotAuthorized as exc:
            log.info("refused %s from %s: %s", req.client_id, req.peer_ip, exc)
            return ConnectDecision.refuse(NOT_AUTHORIZED)
        if principal.expires_at <= self._clock():
            # Verification tolerates clock skew (leeway), but the broker closes a connection
            # when its token expires: a token already expired would be dropped at once.
            log.info("refused %s: token expired", req.client_id)
            return ConnectDecision.refuse(NOT_AUTHORIZED)
        if not authorizer.can_connect():
            log.info("refused %s: policy denies iot:Connect", req.client_id)
            return ConnectDecision.refuse(NOT_AUTHORIZED)
        identity = Identity(principal_id=principal.identity_id, client_id=req.client_id,
                            attributes={"policy": principal.policy_name,
                                        "guest": principal.guest})
        return ConnectDecision.accept(identity, authorizer, expires_at=principal.expires_at)

    def _anonymous_decision(self, req: ConnectRequest) -> ConnectDecision:
        if self._anonymous is None:
            return ConnectDecision.refuse(NOT_AUTHORIZED)
        identity = Identity(principal_id=f"anonymous:{req.client_id}", client_id=req.client_id)
        if self._anonymous == ALLOW_ALL_POLICY:
            return ConnectDecision.accept(identity, ALLOW_ALL)
        try:
            authorizer = self._policies.authorizer(client_id=req.client_id, identity_id=None,
                                                   policy_names=(self._anonymous,))
        except NotAuthorized:
            return ConnectDecision.refuse(NOT_AUTHORIZED)
        if not authorizer.can_connect():
            return ConnectDecision.refuse(NOT_AUTHORIZED)
        return ConnectDecision.accept(identity, authorizer)

    def on_violation(self, identity: Identity) -> bool:
        """Count a denied action; True when the client should be disconnected."""
        counter = self._violations.get(identity.client_id)
        if counter is None:
            counter = self._violations[identity.client_id] = ViolationCounter(self._clock)
            if len(self._violations) > 10_000:  # bounded: forget the oldest counters
                self._violations.pop(next(iter(self._violations)))
        return counter.record()


def credentials_route(issuer: CredentialIssuer, mqtt_url: Callable[[Any], str]
                      ) -> Callable[[Any], Awaitable[Any]]:
    """``POST /api/credentials`` as an API Gateway v2 handler."""

    async def handler(event: Any) -> dict[str, Any]:
        token = None
        new_client_id = False
        body = event.get("body") or ""
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                return {"statusCode": 400, "headers": {"content-type": "application/json"},
                        "body": json.dumps({"message": "body must be JSON"})}
            if not isinstance(parsed, dict):
                return {"statusCode": 400, "headers": {"content-type": "application/json"},
                        "body": json.dumps({"message": "body must be a JSON object"})}
            if isinstance(parsed.get("token"), str):
                token = parsed["token"]
            new_client_id = parsed.get("newClientId") is True
        source = event["requestContext"]["http"]["sourceIp"]
        creds = issuer.issue(source, token, mqtt_url=mqtt_url(event),
                             new_client_id=new_client_id)
        return {"statusCode": 200,
                "headers": {"content-type": "application/json", "cache-control": "no-store"},
                "body": json.dumps(creds)}

    return handler


def mqtt_url_for(event: dict[str, Any]) -> str:
    """The WebSocket URL on the host the browser used (works behind any load balancer)."""
    headers = event.get("headers") or {}
    host = headers.get("host") or event["requestContext"].get("domainName") or "localhost"
    proto = headers.get("x-forwarded-proto", "http").split(",")[0].strip()
    return f"{'wss' if proto == 'https' else 'ws'}://{host}/mqtt"
