"""The fan-out interface: how a node shares accepted messages with the other nodes.

A fan-out is a broker ``PublishObserver`` (it sees every message accepted on this node,
from clients and from the backend, lifecycle events included) that also delivers the
other nodes' messages here with ``Broker.route`` (local subscribers only: rules and
functions ran on the node where the message arrived).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from hubbub.broker.broker import Broker
from hubbub.broker.hooks import Identity
from hubbub.broker.message import Message


class Fanout(Protocol):
    """Shares this node's messages, delivers the other nodes' messages."""

    @property
    def node_id(self) -> str: ...

    async def start(self, broker: Broker) -> None:
        """Connect, load the shared retained messages into ``broker``, start delivering."""

    def on_publish(self, msg: Message, origin: Identity | None) -> Awaitable[None] | None:
        """The broker's observer hook: share ``msg``; the awaitable (QoS 1/2) completes
        once the message was handed to the shared engine or counted as unshared."""

    def stats(self) -> dict[str, int]:
        """Counters for operators (shared, unshared, received, gaps, reconnects, ...)."""

    async def stop(self) -> None:
        """Flush what is pending (bounded wait), stop the tasks, disconnect."""
