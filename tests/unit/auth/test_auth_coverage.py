"""Subscription filters against receivable topics: exact, sound and complete.

Properties, for the chat's guest policy and for random policies:
* a filter the authorizer allows never matches a topic the client may not receive;
* a filter refused for coverage comes with a witness topic that the filter really matches
  (checked with the project's one matcher) and that really is not receivable.
"""

from __future__ import annotations

import itertools
import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hubbub.auth.coverage import filter_covered, uncovered_topic
from hubbub.auth.documents import ANY1, STAR, Action, Glob, builtin_policies
from hubbub.auth.policy import PolicyEngine
from hubbub.mqtt.topics import TopicError, filter_matches, validate_topic_filter

CID = "web-0123456789abcdef"
GUEST = PolicyEngine(builtin_policies()).authorizer(
    client_id=CID, identity_id="local:x", policy_names=["chat-guest"])

LEVELS = ["chat", "in", "pub", "out", "stream", CID, "web-2", "$aws", "events", "", "zz"]


@st.composite
def filters(draw: st.DrawFn, levels: list[str], max_levels: int = 4) -> str:
    parts = draw(st.lists(st.sampled_from([*levels, "+"]), min_size=1, max_size=max_levels))
    if draw(st.booleans()):
        parts.append("#")
    return "/".join(parts)


def _valid(flt: str) -> bool:
    try:
        validate_topic_filter(flt)
    except TopicError:
        return False
    return True


def expansions(flt: str, levels: list[str], limit: int = 20_000) -> list[str]:
    """Every topic over ``levels`` that ``flt`` matches (at most 2 levels under '#')."""
    parts = flt.split("/")
    tail: list[list[str]] = [[]]
    if parts[-1] == "#":
        parts = parts[:-1]
        tail = [[]] + [[a] for a in levels] + [[a, b] for a in levels for b in levels]
    choices = [levels if p == "+" else [p] for p in parts]
    out = []
    for head in itertools.product(*choices):
        for t in tail:
            topic = "/".join([*head, *t])
            if topic and (not parts or head or t) and filter_matches(flt, topic):
                out.append(topic)
                if len(out) >= limit:
                    return out
    return out


@settings(max_examples=400, deadline=None)
@given(filters(LEVELS))
def test_guest_subscription_is_sound_and_complete(flt: str) -> None:
    assume(_valid(flt))
    topics = expansions(flt, LEVELS)
    literal = GUEST.explain(Action.SUBSCRIBE, f"topicfilter/{flt}").allowed
    if GUEST.can_subscribe(flt):
        # Sound: nothing the filter can deliver is off-limits.
        assert literal
        assert all(GUEST.can_receive(t) for t in topics), flt
        return
    why = GUEST.explain_subscribe(flt)
    assert not why.allowed
    if literal:
        # Refused for coverage: the witness is a real match the client may not receive.
        m = re.fullmatch(r"filter also matches topic '(.*)', which .*", why.reason, re.S)
        assert m, why.reason
        witness = m.group(1)
        assert filter_matches(flt, witness) and not GUEST.can_receive(witness)
        # Complete: the sample over LEVELS ('zz' and '' stand for any other level) finds
        # an off-limits topic too, so the refusal is not an artefact of the automaton.
        assert not all(GUEST.can_receive(t) for t in topics), flt


# ------------------------------------------------------------ random policies

CHARS = ["a", "b", "/", "$"]


@st.composite
def globs(draw: st.DrawFn) -> Glob:
    tokens = draw(st.lists(st.sampled_from([*CHARS, STAR, ANY1]), max_size=6))
    return tuple("topic/") + tuple(tokens)


def regex(g: Glob) -> re.Pattern[str]:
    return re.compile("".join(".*" if t == STAR else "." if t == ANY1 else re.escape(t)
                              for t in g), re.S)


def allowed(topic: str, allow: list[Glob], deny: list[Glob]) -> bool:
    res = "topic/" + topic
    return (any(regex(g).fullmatch(res) for g in allow)
            and not any(regex(g).fullmatch(res) for g in deny))


SMALL_LEVELS = ["a", "b", "ab", "", "$a", "ba"]


@settings(max_examples=300, deadline=None)
@given(filters(SMALL_LEVELS, max_levels=3), st.lists(globs(), min_size=1, max_size=3),
       st.lists(globs(), max_size=2))
def test_random_policies(flt: str, allow: list[Glob], deny: list[Glob]) -> None:
    assume(_valid(flt))
    witness = uncovered_topic(flt, allow, deny)
    if witness is None:
        assert filter_covered(flt, allow, deny)
        for topic in expansions(flt, SMALL_LEVELS, limit=2000):
            assert allowed(topic, allow, deny), (flt, topic)
    else:
        assert not filter_covered(flt, allow, deny)
        assert witness and filter_matches(flt, witness), (flt, witness)
        assert not allowed(witness, allow, deny), (flt, witness)


def test_witnesses_for_the_classic_attacks() -> None:
    assert GUEST.explain_subscribe("chat/pub/#").reason.startswith(
        "filter also matches topic 'chat/pub'")
    assert "deny by default" in GUEST.explain_subscribe("chat/+/" + CID).reason
    assert GUEST.explain_subscribe("chat/in/+").allowed is False
    assert GUEST.explain_subscribe("a/#/b").reason.startswith("invalid topic filter")
    assert GUEST.explain_subscribe("chat/pub/x").allowed is True


def test_dollar_topics_are_not_reached_by_leading_wildcards() -> None:
    allow = [tuple("topic/") + (STAR,)]
    deny = [tuple("topic/$") + (STAR,)]
    assert filter_covered("#", allow, deny)  # '#' never matches '$aws/...' [MQTT-4.7.2-1]
    assert filter_covered("+/x", allow, deny)
    assert not filter_covered("$aws/#", allow, deny)
    assert uncovered_topic("$aws/#", allow, deny) == "$aws"


def test_budget_exhaustion_refuses() -> None:
    allow = [tuple("topic/") + (STAR, "a", STAR, "b", STAR, "a", STAR)]
    assert not filter_covered("+/+/+/#", allow, [], max_states=3)
