"""TopicTrie.match_groups (the fan-out's walk) finds exactly what match() yields, and the
broker's Router.match gives the same deliveries as a merge over match()."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubbub.broker.router import Grant, Router, merge
from hubbub.mqtt.topics import TopicTrie

_level = st.sampled_from(["a", "b", "$s", ""])
_topic = st.lists(_level, min_size=1, max_size=4).map("/".join)
_filter = st.lists(st.sampled_from(["a", "b", "$s", "", "+"]), min_size=1, max_size=4).flatmap(
    lambda ls: st.sampled_from(["/".join(ls), "/".join([*ls, "#"]), "#"]))
_subs = st.lists(st.tuples(st.integers(0, 5), _filter, st.integers(0, 2), st.booleans()),
                 max_size=25)


@given(_subs, _topic)
def test_groups_hold_what_match_yields(subs: list[tuple[int, str, int, bool]],
                                       topic: str) -> None:
    trie: TopicTrie[int] = TopicTrie()
    for key, flt, qos, _ in subs:
        trie.add(flt, key, qos)
    flat = [item for group in trie.match_groups(topic) for item in group.items()]
    assert flat == list(trie.match(topic))


@given(_subs, _topic, st.integers(0, 5))
def test_router_match_merges_like_before(subs: list[tuple[int, str, int, bool]], topic: str,
                                         publisher: int) -> None:
    router: Router[int] = Router()
    trie: TopicTrie[Grant] = TopicTrie()
    for key, flt, qos, no_local in subs:
        grant = Grant(qos, no_local=no_local, identifiers=(key,))
        router.subscribe(key, flt, grant)
        trie.add(flt, key, grant)
    want: dict[object, Grant] = {}
    for obj, grant in trie.match(topic):
        if grant.no_local and obj == publisher:
            continue
        want[obj] = grant if obj not in want else merge(want[obj], grant)
    got = router.match(topic, publisher)
    assert got == want
    got.clear()  # a copy: the router's own state is untouched
    assert router.match(topic, publisher) == want
