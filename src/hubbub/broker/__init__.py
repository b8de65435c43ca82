"""hubbub's MQTT 3.1.1 / 5.0 broker with IoT Core's topic semantics and limits.

The lead wires: ``Broker(settings, authenticator=..., observers=[...])``, then
``await broker.start_tcp(host, port)`` and/or give ``broker.protocol_factory`` to the
WebSocket server, ``await broker.publish(...)`` from the backend, ``await
broker.shutdown(timeout)``. See docs/broker.md.
"""

from hubbub.broker.broker import Broker
from hubbub.broker.hooks import (
    ALLOW_ALL,
    BACKEND,
    AllowAll,
    AllowAllAuthorizer,
    Authenticator,
    Authorizer,
    ConnectDecision,
    ConnectRequest,
    DenyAll,
    Identity,
    PublishObserver,
    ViolationHook,
)
from hubbub.broker.lifecycle import DisconnectReason
from hubbub.broker.message import Message
from hubbub.broker.settings import BrokerSettings

__all__ = [
    "ALLOW_ALL", "BACKEND", "AllowAll", "AllowAllAuthorizer", "Authenticator", "Authorizer",
    "Broker", "BrokerSettings", "ConnectDecision", "ConnectRequest", "DenyAll",
    "DisconnectReason", "Identity", "Message", "PublishObserver", "ViolationHook",
]
