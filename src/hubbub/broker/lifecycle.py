"""IoT Core lifecycle events: topics and payloads (pure; the broker publishes them).

Topics and fields follow the AWS IoT Core Developer Guide, "Lifecycle events":
``$aws/events/presence/connected/{clientId}``, ``.../disconnected/{clientId}``,
``$aws/events/subscriptions/subscribed/{clientId}``, ``.../unsubscribed/{clientId}``.
hubbub adds ``$aws/events/presence/connect_failed/{clientId}`` for refused CONNECTs.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TypedDict

#: Prefix clients may never publish under: only the broker speaks for lifecycle events.
RESERVED_PREFIX = "$aws/events/"


class DisconnectReason(StrEnum):
    """IoT Core's ``disconnectReason`` values."""

    AUTH_ERROR = "AUTH_ERROR"
    CLIENT_INITIATED_DISCONNECT = "CLIENT_INITIATED_DISCONNECT"
    CLIENT_ERROR = "CLIENT_ERROR"
    CONNECTION_LOST = "CONNECTION_LOST"
    CUSTOMAUTH_TTL_EXPIRATION = "CUSTOMAUTH_TTL_EXPIRATION"
    DUPLICATE_CLIENTID = "DUPLICATE_CLIENTID"
    FORBIDDEN_ACCESS = "FORBIDDEN_ACCESS"
    MQTT_KEEP_ALIVE_TIMEOUT = "MQTT_KEEP_ALIVE_TIMEOUT"
    SERVER_ERROR = "SERVER_ERROR"
    SERVER_INITIATED_DISCONNECT = "SERVER_INITIATED_DISCONNECT"
    THROTTLED = "THROTTLED"
    WEBSOCKET_TTL_EXPIRATION = "WEBSOCKET_TTL_EXPIRATION"
    UNKNOWN = "UNKNOWN"


class _Base(TypedDict):
    clientId: str
    timestamp: int
    eventType: str
    sessionIdentifier: str
    principalIdentifier: str


class ConnectedEvent(_Base):
    ipAddress: str
    versionNumber: int


class DisconnectedEvent(_Base):
    clientInitiatedDisconnect: bool
    disconnectReason: str
    versionNumber: int


class SubscriptionEvent(_Base):
    topics: list[str]


class ConnectFailedEvent(TypedDict):
    clientId: str
    timestamp: int
    eventType: str
    principalIdentifier: str
    ipAddress: str
    failureReason: str


#: One encoder for every event: ``json.dumps`` with separators builds a new one per call,
#: a measurable part of a connection storm (two events per connection).
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def _dump(obj: object) -> bytes:
    return _ENCODE(obj).encode()


def connected(client_id: str, now: float, session_id: str, principal: str, ip: str,
              version: int) -> tuple[str, bytes]:
    ev: ConnectedEvent = {
        "clientId": client_id, "timestamp": int(now * 1000), "eventType": "connected",
        "sessionIdentifier": session_id, "principalIdentifier": principal,
        "ipAddress": ip, "versionNumber": version,
    }
    return f"$aws/events/presence/connected/{client_id}", _dump(ev)


def disconnected(client_id: str, now: float, session_id: str, principal: str,
                 reason: DisconnectReason, version: int) -> tuple[str, bytes]:
    ev: DisconnectedEvent = {
        "clientId": client_id, "timestamp": int(now * 1000), "eventType": "disconnected",
        "sessionIdentifier": session_id, "principalIdentifier": principal,
        "clientInitiatedDisconnect": reason is DisconnectReason.CLIENT_INITIATED_DISCONNECT,
        "disconnectReason": reason.value, "versionNumber": version,
    }
    return f"$aws/events/presence/disconnected/{client_id}", _dump(ev)


def subscriptions(client_id: str, now: float, session_id: str, principal: str,
                  topics: list[str], subscribed: bool) -> tuple[str, bytes]:
    kind = "subscribed" if subscribed else "unsubscribed"
    ev: SubscriptionEvent = {
        "clientId": client_id, "timestamp": int(now * 1000), "eventType": kind,
        "sessionIdentifier": session_id, "principalIdentifier": principal, "topics": topics,
    }
    return f"$aws/events/subscriptions/{kind}/{client_id}", _dump(ev)


def connect_failed(client_id: str, now: float, principal: str, ip: str,
                   reason: DisconnectReason) -> tuple[str, bytes]:
    ev: ConnectFailedEvent = {
        "clientId": client_id, "timestamp": int(now * 1000), "eventType": "connect_failed",
        "principalIdentifier": principal, "ipAddress": ip, "failureReason": reason.value,
    }
    return f"$aws/events/presence/connect_failed/{client_id}", _dump(ev)
