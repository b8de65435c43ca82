"""In-process hooks: who may connect, what they may do, and who sees every publish.

The broker calls these directly (no network hop). Deny by default is the production
default and is the lead's wiring; ``AllowAll`` exists for tests and anonymous mode and
must be chosen explicitly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol

from hubbub.broker.message import Message

TransportKind = Literal["tcp", "ws"]

_NO_ATTRIBUTES: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True)
class ConnectRequest:
    """What a CONNECT says about who is connecting."""

    client_id: str
    username: str | None
    password: bytes | None
    protocol_version: int  # 4 = MQTT 3.1.1, 5 = MQTT 5.0
    clean_start: bool
    peer_ip: str
    transport_kind: TransportKind


@dataclass(frozen=True)
class Identity:
    """Who a connection (or an in-process publisher) is."""

    principal_id: str
    client_id: str
    attributes: Mapping[str, object] = field(default_factory=lambda: _NO_ATTRIBUTES)


#: The origin of in-process publishes made by the application's backend.
BACKEND = Identity(principal_id="hubbub:backend", client_id="")


class Authorizer(Protocol):
    """Per-connection policy checks; synchronous, the implementation caches."""

    def can_publish(self, topic: str) -> bool: ...
    def can_subscribe(self, topic_filter: str) -> bool: ...
    def can_receive(self, topic: str) -> bool: ...


@dataclass(frozen=True)
class ConnectDecision:
    """Result of authentication: accepted with an identity and a policy, or refused."""

    identity: Identity | None = None
    authorizer: Authorizer | None = None
    expires_at: float | None = None  # clock seconds; the connection is closed then
    reason_code: int = 0  # MQTT 5 CONNACK reason when refused (0x87, 0x86, 0x85, ...)

    @property
    def accepted(self) -> bool:
        return self.identity is not None

    @classmethod
    def accept(cls, identity: Identity, authorizer: Authorizer,
               expires_at: float | None = None) -> ConnectDecision:
        return cls(identity=identity, authorizer=authorizer, expires_at=expires_at)

    @classmethod
    def refuse(cls, reason_code: int = 0x87) -> ConnectDecision:
        if reason_code < 0x80:
            raise ValueError("a refusal needs a failure reason code (>= 0x80)")
        return cls(reason_code=reason_code)


class Authenticator(Protocol):
    async def authenticate(self, req: ConnectRequest) -> ConnectDecision: ...


class PublishObserver(Protocol):
    """Sees every accepted publish; a returned awaitable delays the QoS 1 PUBACK."""

    def on_publish(self, msg: Message, origin: Identity | None) -> Awaitable[None] | None: ...


#: Called on each denied publish/subscribe; True disconnects the client.
ViolationHook = Callable[[Identity], bool]


def may_retain(authorizer: object, topic: str) -> bool:
    """``iot:RetainPublish`` (docs/security.md): needed on top of Publish for a retained
    message, as on IoT Core. Authorizers without a ``can_retain`` allow it."""
    can_retain = getattr(authorizer, "can_retain", None)
    return can_retain is None or bool(can_retain(topic))


class AllowAllAuthorizer:
    """Allows everything. For tests and explicitly configured anonymous mode only."""

    allows_everything = True

    def can_publish(self, topic: str) -> bool:
        return True

    def can_subscribe(self, topic_filter: str) -> bool:
        return True

    def can_receive(self, topic: str) -> bool:
        return True


ALLOW_ALL = AllowAllAuthorizer()


class AllowAll:
    """Authenticator accepting every client as principal ``anonymous:<client id>``."""

    async def authenticate(self, req: ConnectRequest) -> ConnectDecision:
        ident = Identity(principal_id=f"anonymous:{req.client_id}", client_id=req.client_id)
        return ConnectDecision.accept(ident, ALLOW_ALL)


class DenyAll:
    """Authenticator refusing everyone (0x87 Not authorized): the safe default."""

    async def authenticate(self, req: ConnectRequest) -> ConnectDecision:
        return ConnectDecision.refuse(0x87)
