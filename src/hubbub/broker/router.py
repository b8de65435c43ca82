"""Subscriptions in the one ``TopicTrie`` and the fan-out match.

A session may hold several filters matching one topic; the message is delivered once,
at the highest granted QoS, with every matching subscription identifier
[MQTT-3.3.4-2, MQTT-3.3.4-3]. No Local subscriptions skip the publisher's own session
[MQTT-3.8.3-3].
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from hubbub.mqtt.topics import TopicTrie

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Grant:
    """One subscription as granted: options the delivery needs."""

    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0
    identifiers: tuple[int, ...] = ()


def merge(a: Grant, b: Grant) -> Grant:
    """Two overlapping subscriptions of one session seen as one delivery."""
    return Grant(
        qos=max(a.qos, b.qos),
        retain_as_published=a.retain_as_published or b.retain_as_published,
        identifiers=a.identifiers + b.identifiers,
    )


class Router(Generic[K]):
    """Filter -> {session key: Grant}, matched with the project's ``TopicTrie``."""

    def __init__(self) -> None:
        self._trie: TopicTrie[Grant] = TopicTrie()

    def __len__(self) -> int:
        return len(self._trie)

    def subscribe(self, key: K, topic_filter: str, grant: Grant) -> bool:
        """Add or replace; True if the subscription is new [MQTT-3.8.4-3]."""
        return self._trie.add(topic_filter, key, grant)

    def unsubscribe(self, key: K, topic_filter: str) -> bool:
        return self._trie.remove(topic_filter, key)

    def match(self, topic: str, publisher: object = None) -> dict[K, Grant]:
        """Every session to deliver ``topic`` to, with the merged grant (a new dict: the
        caller may unsubscribe sessions while it goes through it)."""
        groups = self._trie.match_groups(topic)
        if len(groups) == 1:
            # The usual case, one matching filter (a room): its sessions as they are.
            out = cast(dict[K, Grant], dict(groups[0]))
            if publisher is not None:
                own = out.get(cast(K, publisher))
                if own is not None and own.no_local:
                    del out[cast(K, publisher)]
            return out
        out = {}
        for group in groups:
            for obj, grant in group.items():
                if grant.no_local and obj is publisher:
                    continue
                key = cast(K, obj)
                prev = out.get(key)
                out[key] = grant if prev is None else merge(prev, grant)
        return out
