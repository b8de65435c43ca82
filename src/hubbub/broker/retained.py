"""Retained messages: one per topic, an empty payload deletes [MQTT-3.3.1-5..11]."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from hubbub.broker.message import Message
from hubbub.mqtt.topics import TopicTrie, is_wildcard


class RetainedBackend(Protocol):
    """Where retained messages are written through (``storage.BrokerStore``)."""

    def put_retained(self, msg: Message) -> None: ...
    def delete_retained(self, topic: str) -> None: ...


class RetainedStore:
    """Topic -> last retained message, written through to an optional backend."""

    def __init__(self, backend: RetainedBackend | None = None) -> None:
        self._by_topic: dict[str, Message] = {}
        self._backend = backend

    def __len__(self) -> int:
        return len(self._by_topic)

    def load(self, messages: Iterator[Message] | list[Message]) -> None:
        for msg in messages:
            self._by_topic[msg.topic] = msg

    def set(self, msg: Message) -> None:
        """Store ``msg`` as the topic's retained message; an empty payload deletes it."""
        if not msg.payload:
            if self._by_topic.pop(msg.topic, None) is not None and self._backend:
                self._backend.delete_retained(msg.topic)
            return
        self._by_topic[msg.topic] = msg
        if self._backend:
            self._backend.put_retained(msg)

    def get(self, topic: str) -> Message | None:
        return self._by_topic.get(topic)

    def matching(self, topic_filter: str, now: float) -> list[Message]:
        """Retained messages whose topic matches ``topic_filter``, expired ones removed.

        A wildcard filter is checked against every retained topic with a one-filter
        ``TopicTrie`` (the project's only matcher); retained topics are few in the chat.
        """
        if not is_wildcard(topic_filter):
            msg = self._by_topic.get(topic_filter)
            candidates = [msg] if msg is not None else []
        else:
            trie: TopicTrie[None] = TopicTrie()
            trie.add(topic_filter, None, None)
            candidates = [m for t, m in self._by_topic.items() if trie.has_match(t)]
        out = []
        for msg in candidates:
            if msg.expired(now):
                # An expired retained message is no longer sent [MQTT-3.3.2-5].
                self.set(Message(msg.topic, b""))
            else:
                out.append(msg)
        return out
