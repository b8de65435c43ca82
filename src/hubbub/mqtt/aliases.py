"""MQTT 5 topic aliases (MQTT 5.0 §3.3.2.3.4), one map per direction of a connection.

Inbound: the client picks aliases up to the Topic Alias Maximum *we* announced; outbound:
we pick them up to the maximum *the client* announced. Aliases never outlive the network
connection [MQTT-3.3.2-7].
"""

from __future__ import annotations

from dataclasses import replace

from hubbub.errors import ProtocolError
from hubbub.mqtt.errors import TopicAliasInvalid
from hubbub.mqtt.packets import EMPTY_PROPERTIES, Publish


class InboundAliases:
    """Resolves the topic aliases a client uses in its PUBLISHes."""

    __slots__ = ("maximum", "_topics")

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._topics: dict[int, str] = {}

    def resolve(self, publish: Publish) -> Publish:
        """The PUBLISH with its full topic and without the alias property."""
        alias = publish.properties.topic_alias
        if alias is None:
            if not publish.topic:
                raise ProtocolError("PUBLISH with an empty topic and no topic alias "
                                    "[MQTT 5.0 §3.3.2.1]")
            return publish
        if alias == 0 or alias > self.maximum:
            raise TopicAliasInvalid(f"topic alias {alias} outside 1..{self.maximum} "
                                    "[MQTT-3.3.2-8, MQTT-3.3.2-9]")
        topic = publish.topic
        if topic:
            self._topics[alias] = topic  # a new or replaced mapping [MQTT 5.0 §3.3.2.3.4]
        else:
            known = self._topics.get(alias)
            if known is None:
                raise ProtocolError(f"topic alias {alias} used before it was set "
                                    "[MQTT 5.0 §3.3.2.3.4]")
            topic = known
        props = replace(publish.properties, topic_alias=None)
        if props == EMPTY_PROPERTIES:
            props = EMPTY_PROPERTIES
        return replace(publish, topic=topic, properties=props)


class OutboundAliases:
    """Assigns aliases first come, first served, until the client's maximum is used up.

    No eviction: a topic that finds the table full goes out in full, which is always
    correct and keeps both sides' tables trivially in sync.
    """

    __slots__ = ("maximum", "_aliases")

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._aliases: dict[str, int] = {}

    def apply(self, publish: Publish) -> Publish:
        if self.maximum == 0 or publish.properties.topic_alias is not None:
            return publish
        alias = self._aliases.get(publish.topic)
        if alias is not None:
            return replace(publish, topic="",
                           properties=replace(publish.properties, topic_alias=alias))
        if len(self._aliases) >= self.maximum:
            return publish
        alias = len(self._aliases) + 1
        self._aliases[publish.topic] = alias
        return replace(publish, properties=replace(publish.properties, topic_alias=alias))
