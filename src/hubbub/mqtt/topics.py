"""Topic names, topic filters and the one matcher hubbub uses.

Validation follows MQTT 5.0 §4.7 (identical in 3.1.1 §4.7); limits on bytes and levels
are IoT Core's and come in as arguments. ``TopicTrie`` is the only matcher in hubbub:
the router, retained messages, rules and policies all use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from hubbub.errors import PeerError

V = TypeVar("V")

TOPIC_NAME_INVALID = 0x90  # MQTT 5 reason code "Topic Name invalid"
TOPIC_FILTER_INVALID = 0x8F  # MQTT 5 reason code "Topic Filter invalid"


class TopicError(PeerError):
    """A topic name or filter breaks MQTT §4.7 or a configured limit."""

    mqtt_reason = TOPIC_NAME_INVALID


def _check_common(s: str, max_bytes: int, max_levels: int, what: str) -> list[str]:
    if not s:
        raise TopicError(f"{what} must not be empty [MQTT-4.7.3-1]")
    if "\x00" in s:
        raise TopicError(f"{what} must not contain NUL [MQTT-4.7.3-2]")
    if len(s.encode("utf-8", "surrogatepass")) > max_bytes:
        raise TopicError(f"{what} longer than {max_bytes} bytes")
    levels = s.split("/")
    if len(levels) > max_levels:
        raise TopicError(f"{what} has more than {max_levels} levels")
    return levels


def validate_topic_name(name: str, *, max_bytes: int = 65535, max_levels: int = 65535) -> None:
    """Raise ``TopicError`` unless ``name`` may be published to [MQTT-3.3.2-2]."""
    _check_common(name, max_bytes, max_levels, "topic name")
    if "+" in name or "#" in name:
        raise TopicError("wildcards are not allowed in a topic name [MQTT-3.3.2-2]")


def validate_topic_filter(flt: str, *, max_bytes: int = 65535, max_levels: int = 65535) -> None:
    """Raise ``TopicError`` (reason 0x8F) unless ``flt`` is a valid filter [MQTT-4.7.1]."""
    try:
        levels = _check_common(flt, max_bytes, max_levels, "topic filter")
    except TopicError as exc:
        raise TopicError(str(exc), mqtt_reason=TOPIC_FILTER_INVALID) from None
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise TopicError("'#' must be a whole last level [MQTT-4.7.1-2]",
                             mqtt_reason=TOPIC_FILTER_INVALID)
        if "+" in level and level != "+":
            raise TopicError("'+' must occupy a whole level [MQTT-4.7.1-3]",
                             mqtt_reason=TOPIC_FILTER_INVALID)


def is_wildcard(flt: str) -> bool:
    return "+" in flt or "#" in flt


@dataclass(eq=False)
class _Node(Generic[V]):
    children: dict[str, _Node[V]] = field(default_factory=dict)
    values: dict[object, V] = field(default_factory=dict)


class TopicTrie(Generic[V]):
    """Maps topic filters to values, keyed so that one filter can hold many subscribers.

    ``match(topic)`` yields every ``(key, value)`` whose filter matches the topic name.
    A leading ``+`` or ``#`` does not match a topic starting with ``$`` [MQTT-4.7.2-1].
    """

    __slots__ = ("_root", "_count")

    def __init__(self) -> None:
        self._root: _Node[V] = _Node()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, flt: str, key: object, value: V) -> bool:
        """Store ``value`` under ``(flt, key)``; return True if it was new."""
        node = self._root
        for level in flt.split("/"):
            nxt = node.children.get(level)
            if nxt is None:
                nxt = node.children[level] = _Node()
            node = nxt
        new = key not in node.values
        node.values[key] = value
        if new:
            self._count += 1
        return new

    def remove(self, flt: str, key: object) -> bool:
        """Drop ``(flt, key)``; prune empty branches. Return True if it was there."""
        path: list[tuple[_Node[V], str]] = []
        node = self._root
        for level in flt.split("/"):
            nxt = node.children.get(level)
            if nxt is None:
                return False
            path.append((node, level))
            node = nxt
        if key not in node.values:
            return False
        del node.values[key]
        self._count -= 1
        for parent, level in reversed(path):
            child = parent.children[level]
            if child.values or child.children:
                break
            del parent.children[level]
        return True

    def get(self, flt: str, key: object) -> V | None:
        node = self._root
        for level in flt.split("/"):
            nxt = node.children.get(level)
            if nxt is None:
                return None
            node = nxt
        return node.values.get(key)

    def match(self, topic: str) -> Iterator[tuple[object, V]]:
        levels = topic.split("/")
        dollar = topic.startswith("$")
        yield from self._match(self._root, levels, 0, dollar)

    def _match(self, node: _Node[V], levels: list[str], i: int,
               dollar: bool) -> Iterator[tuple[object, V]]:
        children = node.children
        first = i == 0 and dollar
        if not first:
            hash_node = children.get("#")
            if hash_node is not None:
                # '#' also matches the parent level [MQTT-4.7.1-2]
                yield from hash_node.values.items()
        if i == len(levels):
            yield from node.values.items()
            return
        exact = children.get(levels[i])
        if exact is not None:
            yield from self._match(exact, levels, i + 1, dollar)
        if not first:
            plus = children.get("+")
            if plus is not None:
                yield from self._match(plus, levels, i + 1, dollar)

    def match_groups(self, topic: str) -> list[dict[object, V]]:
        """The ``{key: value}`` dict of every filter matching ``topic``, in ``match``'s
        order (the live dicts: copy before changing the trie). For fan-out: one C-level
        dict copy per filter instead of a resumed generator chain per subscriber."""
        out: list[dict[object, V]] = []
        self._groups(self._root, topic.split("/"), 0, topic.startswith("$"), out)
        return out

    def _groups(self, node: _Node[V], levels: list[str], i: int, dollar: bool,
                out: list[dict[object, V]]) -> None:
        # The same walk as _match [MQTT-4.7.1-2, MQTT-4.7.2-1], collecting instead of yielding.
        children = node.children
        first = i == 0 and dollar
        if not first:
            hash_node = children.get("#")
            if hash_node is not None and hash_node.values:
                out.append(hash_node.values)
        if i == len(levels):
            if node.values:
                out.append(node.values)
            return
        exact = children.get(levels[i])
        if exact is not None:
            self._groups(exact, levels, i + 1, dollar, out)
        if not first:
            plus = children.get("+")
            if plus is not None:
                self._groups(plus, levels, i + 1, dollar, out)

    def has_match(self, topic: str) -> bool:
        return next(self.match(topic), None) is not None

    def items(self) -> Iterator[tuple[str, object, V]]:
        """Yield every ``(filter, key, value)`` stored."""
        stack: list[tuple[_Node[V], list[str]]] = [(self._root, [])]
        while stack:
            node, path = stack.pop()
            for key, value in node.values.items():
                yield "/".join(path), key, value
            for level, child in node.children.items():
                stack.append((child, [*path, level]))


def filter_matches(flt: str, topic: str) -> bool:
    """One-off match of a single filter; uses the same rules as ``TopicTrie``."""
    trie: TopicTrie[None] = TopicTrie()
    trie.add(flt, None, None)
    return trie.has_match(topic)
