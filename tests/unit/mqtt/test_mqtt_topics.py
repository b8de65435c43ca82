"""hubbub.mqtt.topics against the examples of MQTT 5.0 §4.7 (the same in 3.1.1 §4.7)."""

from __future__ import annotations

import pytest

from hubbub.mqtt.topics import (
    TopicError,
    TopicTrie,
    filter_matches,
    validate_topic_filter,
    validate_topic_name,
)

# (filter, topic, matches?) — the non-normative examples of §4.7.1.2, §4.7.1.3, §4.7.2
MATCHES = [
    # '#' multi-level wildcard, §4.7.1.2
    ("sport/tennis/player1/#", "sport/tennis/player1", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
    ("sport/tennis/player1/#", "sport/tennis/player2", False),
    ("sport/#", "sport", True),  # '#' includes the parent level
    ("sport/#", "sport/", True),
    ("#", "sport/tennis/player1", True),
    ("#", "/", True),
    # '+' single-level wildcard, §4.7.1.3
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/tennis/+", "sport/tennis/player2", True),
    ("sport/tennis/+", "sport/tennis/player1/ranking", False),
    ("sport/+", "sport", False),
    ("sport/+", "sport/", True),  # an empty level is a level
    ("+/+", "/finance", True),
    ("/+", "/finance", True),
    ("+", "/finance", False),
    ("+", "finance", True),
    ("sport/+/player1", "sport/tennis/player1", True),
    ("+/tennis/#", "sport/tennis/player1/ranking", True),
    ("+/tennis/#", "sport/tennis", True),
    # topics beginning with '$', §4.7.2
    ("#", "$SYS/monitor/Clients", False),
    ("+/monitor/Clients", "$SYS/monitor/Clients", False),
    ("$SYS/#", "$SYS/monitor/Clients", True),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
    ("+", "$SYS", False),
    ("$aws/events/presence/#", "$aws/events/presence/connected/c1", True),
    ("$aws/+/presence/#", "$aws/events/presence/connected/c1", True),
    # §4.7.3: case sensitive, spaces allowed, a leading '/' makes a distinct topic
    ("ACCOUNTS", "Accounts", False),
    ("Accounts payable", "Accounts payable", True),
    ("/finance", "finance", False),
    ("finance", "/finance", False),
    ("sport/tennis", "sport/tennis/", False),
]


@pytest.mark.parametrize(("flt", "topic", "expected"), MATCHES)
def test_filter_matching_examples(flt: str, topic: str, expected: bool) -> None:
    validate_topic_filter(flt)
    validate_topic_name(topic)
    assert filter_matches(flt, topic) is expected


def test_one_trie_holds_them_all() -> None:
    trie: TopicTrie[int] = TopicTrie()
    for i, (flt, _, _) in enumerate(MATCHES):
        trie.add(flt, ("sub", i), i)
    for i, (_, topic, expected) in enumerate(MATCHES):
        keys = {k for k, _ in trie.match(topic)}
        assert (("sub", i) in keys) is expected, MATCHES[i]


@pytest.mark.parametrize("flt", ["sport/tennis/#", "#", "+", "+/tennis/#", "sport/+/player1",
                                 "/", "a//b", "$SYS/#", "$share/g/a/+"])
def test_valid_filters(flt: str) -> None:
    validate_topic_filter(flt)


@pytest.mark.parametrize("flt", ["sport/tennis#", "sport/tennis/#/ranking", "sport+", "a/b+/c",
                                 "##", "", "a\x00b", "#/"])
def test_invalid_filters(flt: str) -> None:
    with pytest.raises(TopicError) as info:
        validate_topic_filter(flt)
    assert info.value.mqtt_reason == 0x8F


@pytest.mark.parametrize("name", ["sport/+", "sport/#", "+", "#", "", "a\x00"])
def test_invalid_topic_names(name: str) -> None:
    with pytest.raises(TopicError) as info:
        validate_topic_name(name)
    assert info.value.mqtt_reason == 0x90


def test_limits() -> None:
    validate_topic_name("a/b/c", max_levels=3, max_bytes=5)
    with pytest.raises(TopicError):
        validate_topic_name("a/b/c/d", max_levels=3)
    with pytest.raises(TopicError):
        validate_topic_name("é" * 3, max_bytes=5)  # bytes, not characters
    with pytest.raises(TopicError):
        validate_topic_filter("a/+/c/#", max_levels=3)


def test_trie_keys_values_and_pruning() -> None:
    trie: TopicTrie[int] = TopicTrie()
    assert trie.add("a/+", "alice", 1)
    assert not trie.add("a/+", "alice", 2)  # replaced, not new
    assert trie.add("a/+", "bob", 0)
    assert trie.add("a/#", "alice", 1)
    assert len(trie) == 3
    assert sorted(trie.match("a/x")) == [("alice", 1), ("alice", 2), ("bob", 0)]
    assert trie.get("a/+", "alice") == 2
    assert trie.remove("a/+", "alice")
    assert not trie.remove("a/+", "alice")
    assert not trie.remove("zz/top", "alice")
    assert trie.remove("a/+", "bob")
    assert trie.remove("a/#", "alice")
    assert len(trie) == 0
    assert list(trie.items()) == []
    assert not trie.has_match("a/x")
