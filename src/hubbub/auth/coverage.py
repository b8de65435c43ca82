"""Does a topic filter reach only topics a policy lets the client receive?

IoT Core checks ``iot:Subscribe`` against ``topicfilter/<filter>`` with the filter as a
plain string: ``+`` and ``#`` are literal there, and a policy ``*`` spans ``/``. That alone
lets ``chat/pub/#`` through ``topicfilter/chat/pub/*`` although it also matches the topic
``chat/pub``. hubbub additionally requires that *every* topic name the filter can match
[MQTT-4.7] is receivable: allowed by some Allow and by no Deny. Both sides are regular
languages, so the check is exact: a subset construction over the filter's automaton and
the policy globs, on a finite alphabet of character classes (each literal character that
appears anywhere, ``/``, ``$`` and one stand-in for "any other character"). Topic names
never contain ``+``, ``#`` or NUL [MQTT-4.7.3-2, MQTT-3.3.2-2], so those are not in it.

Over-length topics are not excluded, so the check can only err towards refusing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

from hubbub.auth.documents import ANY1, STAR, Glob

MAX_STATES = 5_000  # subset-construction budget; beyond it the subscription is refused

_Pred = Callable[[str], bool] | str  # a str is one literal character
_State = tuple[frozenset[int], frozenset[tuple[int, int]], frozenset[tuple[int, int]], int]


class _FilterNFA:
    def __init__(self) -> None:
        self.moves: list[list[tuple[_Pred, int]]] = []
        self.eps: list[list[int]] = []
        self.accept: set[int] = set()

    def new(self) -> int:
        self.moves.append([])
        self.eps.append([])
        return len(self.moves) - 1

    def step(self, s: int, pred: _Pred) -> int:
        t = self.new()
        self.moves[s].append((pred, t))
        return t

    def chars(self, states: frozenset[int]) -> tuple[set[str], bool]:
        """The literal characters ``states`` move on, and whether any move is a wildcard."""
        lits: set[str] = set()
        wild = False
        for s in states:
            for pred, _ in self.moves[s]:
                if isinstance(pred, str):
                    lits.add(pred)
                else:
                    wild = True
        return lits, wild

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        seen = set(states)
        stack = list(seen)
        while stack:
            for t in self.eps[stack.pop()]:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return frozenset(seen)


def _any(ch: str) -> bool:
    return True


def _not_slash(ch: str) -> bool:
    return ch != "/"


def _first_of_plus(ch: str) -> bool:
    # A leading wildcard never matches a topic starting with '$' [MQTT-4.7.2-1].
    return ch != "/" and ch != "$"


def _not_dollar(ch: str) -> bool:
    return ch != "$"


def _filter_nfa(prefix: str, flt: str) -> tuple[_FilterNFA, int]:
    nfa = _FilterNFA()
    start = s = nfa.new()
    for c in prefix:
        s = nfa.step(s, c)
    levels = flt.split("/")
    for i, level in enumerate(levels):
        if level == "#":  # always the last level [MQTT-4.7.1-2]
            if i == 0:
                t = nfa.step(s, _not_dollar)  # '#' alone: any non-empty, non-'$' topic
            else:
                nfa.accept.add(s)  # 'a/#' also matches 'a' [MQTT-4.7.1-2]
                t = nfa.step(s, "/")
            nfa.moves[t].append((_any, t))
            nfa.accept.add(t)
            return nfa, start
        if i > 0:
            s = nfa.step(s, "/")
        if level == "+":
            t = nfa.step(s, _first_of_plus if i == 0 else _not_slash)
            nfa.moves[t].append((_not_slash, t))
            end = nfa.new()
            nfa.eps[t].append(end)
            # '+' matches an empty level too; an empty first level means the topic starts
            # with '/', which is not a '$' topic.
            nfa.eps[s].append(end)
            s = end
        else:
            for c in level:
                s = nfa.step(s, c)
    nfa.accept.add(s)
    return nfa, start


def _glob_closure(globs: Sequence[Glob], states: Iterable[tuple[int, int]]
                  ) -> frozenset[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for g, pos in states:
        tokens = globs[g]
        out.add((g, pos))
        while pos < len(tokens) and tokens[pos] == STAR:  # '*' may match nothing
            pos += 1
            out.add((g, pos))
    return frozenset(out)


def _glob_step(globs: Sequence[Glob], states: frozenset[tuple[int, int]], ch: str
               ) -> frozenset[tuple[int, int]]:
    nxt: list[tuple[int, int]] = []
    for g, pos in states:
        tokens = globs[g]
        if pos == len(tokens):
            continue
        tok = tokens[pos]
        if tok == STAR:
            nxt.append((g, pos))
        elif tok == ANY1 or tok == ch:
            nxt.append((g, pos + 1))
    return _glob_closure(globs, nxt)


def _glob_match(glob: Glob, text: str) -> bool:
    states = _glob_closure([glob], [(0, 0)])
    for ch in text:
        states = _glob_step([glob], states, ch)
        if not states:
            return False
    return _accepts([glob], states)


def _accepts(globs: Sequence[Glob], states: frozenset[tuple[int, int]]) -> bool:
    return any(pos == len(globs[g]) for g, pos in states)


def _other(prefix: str, flt: str, globs: Iterable[Glob]) -> str:
    """A character no pattern names: it stands for every character not named."""
    chars = set(prefix) | set(flt) | {"/", "$"}
    for g in globs:
        chars.update(t for t in g if len(t) == 1)
    return next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in chars)


def _relevant(nfa: _FilterNFA, allow: Sequence[Glob], deny: Sequence[Glob], state: _State,
              other: str) -> list[str]:
    """The characters that can lead somewhere different from ``state``.

    A character that no move of the filter and no next glob token names behaves exactly
    like ``other``; so the alphabet is partitioned per state, a handful of characters.
    """
    f, a, d, _ = state
    chars, wild = nfa.chars(f)
    if wild:
        chars |= {"/", "$", other}
        for globs, states in ((allow, a), (deny, d)):
            for g, pos in states:
                if pos < len(globs[g]) and len(globs[g][pos]) == 1:
                    chars.add(globs[g][pos])
    chars -= {"+", "#", "\x00"}  # never in a topic name [MQTT-4.7.3-2, MQTT-3.3.2-2]
    return sorted(chars)


class BudgetExceeded(Exception):
    """The search needed more than ``max_states`` subsets (internal; callers refuse)."""


def uncovered_topic(flt: str, allow: Sequence[Glob], deny: Sequence[Glob], *,
                    prefix: str = "topic/", max_states: int = MAX_STATES) -> str | None:
    """A shortest topic name ``flt`` matches whose ``prefix + topic`` is not allowed, or
    None if there is none. "Allowed": matched by some glob in ``allow``, by none in
    ``deny``. ``flt`` must be a valid topic filter. Raises ``BudgetExceeded``.
    """
    if "+" not in flt and "#" not in flt:
        # No wildcard: the filter matches exactly one topic, itself [MQTT-4.7.1].
        res = prefix + flt
        ok = any(_glob_match(g, res) for g in allow) and not any(
            _glob_match(g, res) for g in deny)
        return None if ok else flt
    nfa, start = _filter_nfa(prefix, flt)
    other = _other(prefix, flt, [*allow, *deny])
    steps: dict[tuple[frozenset[int], str], frozenset[int]] = {}
    gsteps: dict[tuple[bool, frozenset[tuple[int, int]], str], frozenset[tuple[int, int]]] = {}

    def fstep(f: frozenset[int], ch: str) -> frozenset[int]:
        got = steps.get((f, ch))
        if got is None:
            got = steps[f, ch] = nfa.closure(
                t for s in f for pred, t in nfa.moves[s]
                if (pred == ch if isinstance(pred, str) else pred(ch)))
        return got

    def gstep(is_deny: bool, states: frozenset[tuple[int, int]], ch: str
              ) -> frozenset[tuple[int, int]]:
        got = gsteps.get((is_deny, states, ch))
        if got is None:
            got = gsteps[is_deny, states, ch] = _glob_step(deny if is_deny else allow, states, ch)
        return got

    # The last field counts characters read, capped at len(prefix) + 1: topic names are
    # never empty [MQTT-4.7.3-1] ('/#' and '+/#' match '' only on paper).
    full = len(prefix) + 1
    init = (nfa.closure([start]),
            _glob_closure(allow, [(g, 0) for g in range(len(allow))]),
            _glob_closure(deny, [(g, 0) for g in range(len(deny))]), 0)
    parent: dict[_State, tuple[_State, str] | None] = {init: None}
    todo = deque([init])
    while todo:  # breadth first: the witness is a shortest one
        state = todo.popleft()
        f, a, d, n = state
        if n == full and not f.isdisjoint(nfa.accept) and (
                not _accepts(allow, a) or _accepts(deny, d)):
            return _path(parent, state)[len(prefix):]
        for ch in _relevant(nfa, allow, deny, state, other):
            f2 = fstep(f, ch)
            if not f2:
                continue
            nxt = (f2, gstep(False, a, ch), gstep(True, d, ch), min(n + 1, full))
            if nxt not in parent:
                if len(parent) >= max_states:
                    raise BudgetExceeded(flt)
                parent[nxt] = (state, ch)
                todo.append(nxt)
    return None


def _path(parent: dict[_State, tuple[_State, str] | None], state: _State) -> str:
    chars: list[str] = []
    link = parent[state]
    while link is not None:
        state, ch = link
        chars.append(ch)
        link = parent[state]
    return "".join(reversed(chars))


def filter_covered(flt: str, allow: Sequence[Glob], deny: Sequence[Glob], *,
                   prefix: str = "topic/", max_states: int = MAX_STATES) -> bool:
    """True if every topic name ``flt`` matches is allowed (see :func:`uncovered_topic`);
    False also when the search budget runs out (when in doubt, refuse)."""
    if not allow:
        return False
    try:
        return uncovered_topic(flt, allow, deny, prefix=prefix, max_states=max_states) is None
    except BudgetExceeded:
        return False
