"""Policy evaluation: ``PolicyEngine`` holds documents, ``Authorizer`` answers per connection.

Evaluation follows IAM/IoT Core: an explicit Deny in any attached policy beats every Allow;
without a matching Allow the answer is no (deny by default). Resources are matched as
``client/<clientId>`` (Connect), ``topic/<name>`` (Publish, RetainPublish, Receive) and
``topicfilter/<filter>`` (Subscribe, the filter as a plain string, as IoT Core does).

Two deliberate differences from IoT Core, both only ever refusing more:

* Subscribe also needs every topic the filter can match to be receivable
  (:mod:`hubbub.auth.coverage`): ``chat/in/+``, ``#`` or ``chat/pub/#`` (which matches the
  topic ``chat/pub``) are refused under the chat's guest policy.
* A policy variable hubbub cannot resolve makes an Allow resource match nothing (as AWS
  does), but makes a Deny resource match as if the variable were ``*``: a Deny written for
  a thing attribute hubbub does not have must not silently vanish.

Variable values are literal text: a client id ``*`` does not become a wildcard. Client ids
with ``+``, ``#`` or ``/`` are refused at Connect whatever the policy says, since they would
turn ``chat/in/${iot:ClientId}`` into a filter or another path.

Every answer is cached per connection in a bounded LRU (``functools.lru_cache``, a C dict
lookup on a hit), so fan-out checks ``can_receive`` without re-evaluating documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from hubbub.auth.coverage import BudgetExceeded, filter_covered, uncovered_topic
from hubbub.auth.documents import (
    ANY1,
    STAR,
    VAR_CLIENT_ID,
    VAR_IDENTITY_ID,
    Action,
    Glob,
    PolicyDocument,
)
from hubbub.auth.principal import Principal
from hubbub.errors import NotAuthorized, UsageError
from hubbub.mqtt.topics import TopicError, is_wildcard, validate_topic_filter

DEFAULT_CACHE_SIZE = 1024  # per connection and action: a chat client uses a handful of topics
FORBIDDEN_CLIENT_ID_CHARS = frozenset("+#/")
CLIENT_ID_INVALID = 0x85  # MQTT 5 CONNACK "Client Identifier not valid"


class Decision(NamedTuple):
    """An answer and why (for logs and error messages, never sent to the client)."""

    allowed: bool
    reason: str


def check_client_id(client_id: str) -> None:
    """Raise ``NotAuthorized`` for a client id no policy may accept (empty, ``+``, ``#``, ``/``).

    The error carries MQTT 5 reason 0x85 "Client Identifier not valid" (3.1.1: return
    code 2, "identifier rejected").
    """
    if not client_id:
        raise NotAuthorized("empty client id", mqtt_reason=CLIENT_ID_INVALID)
    bad = FORBIDDEN_CLIENT_ID_CHARS.intersection(client_id)
    if bad:
        raise NotAuthorized(f"client id must not contain {' '.join(sorted(bad))}",
                            mqtt_reason=CLIENT_ID_INVALID)


def _regex(glob: Glob) -> str:
    return "".join(".*" if t == STAR else "." if t == ANY1 else re.escape(t) for t in glob)


@dataclass(slots=True)
class _Rules:
    allow: list[Glob] = field(default_factory=list)
    deny: list[Glob] = field(default_factory=list)
    why_allow: list[str] = field(default_factory=list)
    why_deny: list[str] = field(default_factory=list)
    allow_re: re.Pattern[str] | None = None
    deny_re: re.Pattern[str] | None = None

    def compile(self) -> None:
        # One alternation per effect: a single fullmatch answers "any statement matches".
        if self.allow:
            self.allow_re = re.compile("|".join(f"(?:{_regex(g)})" for g in self.allow), re.S)
        if self.deny:
            self.deny_re = re.compile("|".join(f"(?:{_regex(g)})" for g in self.deny), re.S)

    def allows(self, resource: str) -> bool:
        if self.deny_re is not None and self.deny_re.fullmatch(resource):
            return False
        return self.allow_re is not None and self.allow_re.fullmatch(resource) is not None

    def explain(self, resource: str) -> Decision:
        for g, why in zip(self.deny, self.why_deny, strict=True):
            if re.fullmatch(_regex(g), resource, re.S):
                return Decision(False, f"explicitly denied by {why}")
        for g, why in zip(self.allow, self.why_allow, strict=True):
            if re.fullmatch(_regex(g), resource, re.S):
                return Decision(True, f"allowed by {why}")
        return Decision(False, "no statement allows it (deny by default)")


class Authorizer:
    """What one connection may do. Build it with :meth:`PolicyEngine.authorizer`."""

    #: ``can_publish(topic)``: may this connection publish to ``topic``?
    can_publish: Callable[[str], bool]
    #: ``can_receive(topic)``: may a message on ``topic`` be delivered to it (hot path)?
    can_receive: Callable[[str], bool]
    #: ``can_subscribe(filter)``: may it subscribe to ``filter``? (invalid filters: no)
    can_subscribe: Callable[[str], bool]
    #: ``can_retain(topic)``: may it publish a retained message to ``topic``
    #: (``iot:RetainPublish``, needed on top of ``iot:Publish``, as in IoT Core)?
    can_retain: Callable[[str], bool]

    def __init__(self, client_id: str, identity_id: str | None, policy_names: tuple[str, ...],
                 rules: Mapping[Action, _Rules], cache_size: int) -> None:
        self.client_id = client_id
        self.identity_id = identity_id
        self.policy_names = policy_names
        self._rules = rules
        cache = lru_cache(maxsize=cache_size)
        self.can_publish = cache(self._publish)
        self.can_receive = cache(self._receive)
        self.can_subscribe = cache(self._subscribe)
        self.can_retain = cache(self._retain)
        self._connect: bool | None = None

    def can_connect(self) -> bool:
        """May this client id connect? (``iot:Connect`` on ``client/<clientId>``)."""
        if self._connect is None:
            try:
                check_client_id(self.client_id)
            except NotAuthorized:
                self._connect = False
            else:
                self._connect = self._rules[Action.CONNECT].allows(f"client/{self.client_id}")
        return self._connect

    def explain(self, action: Action, resource: str) -> Decision:
        """Evaluate ``resource`` (e.g. ``topic/chat/out``) uncached and say which statement
        decided; for Subscribe this is the literal ``topicfilter/`` check only."""
        return self._rules[action].explain(resource)

    def explain_subscribe(self, flt: str) -> Decision:
        """Why ``can_subscribe(flt)`` answers as it does, naming a topic it cannot receive."""
        try:
            validate_topic_filter(flt)
        except TopicError as exc:
            return Decision(False, f"invalid topic filter: {exc}")
        literal = self._rules[Action.SUBSCRIBE].explain(f"topicfilter/{flt}")
        if not literal.allowed:
            return literal
        receive = self._rules[Action.RECEIVE]
        try:
            topic = uncovered_topic(flt, receive.allow, receive.deny)
        except BudgetExceeded:
            return Decision(False, "filter too complex to check against the policy")
        if topic is not None:
            return Decision(False, f"filter also matches topic {topic!r}, "
                            "which the policy does not let this client receive")
        return literal

    def clear_cache(self) -> None:
        for f in (self.can_publish, self.can_receive, self.can_subscribe, self.can_retain):
            f.cache_clear()  # type: ignore[attr-defined]
        self._connect = None

    def _publish(self, topic: str) -> bool:
        # Wildcards are never part of a topic name [MQTT-3.3.2-2]; the broker refuses them
        # first, this keeps a literal '+' from matching a policy '*'.
        if not topic or "+" in topic or "#" in topic:
            return False
        return self._rules[Action.PUBLISH].allows(f"topic/{topic}")

    def _retain(self, topic: str) -> bool:
        return self._publish(topic) and self._rules[Action.RETAIN_PUBLISH].allows(
            f"topic/{topic}")

    def _receive(self, topic: str) -> bool:
        return self._rules[Action.RECEIVE].allows(f"topic/{topic}")

    def _subscribe(self, flt: str) -> bool:
        try:
            validate_topic_filter(flt)
        except TopicError:
            return False
        if not self._rules[Action.SUBSCRIBE].allows(f"topicfilter/{flt}"):
            return False
        receive = self._rules[Action.RECEIVE]
        if not is_wildcard(flt):  # it matches exactly one topic: itself [MQTT-4.7.1]
            return receive.allows(f"topic/{flt}")
        return filter_covered(flt, receive.allow, receive.deny)


class PolicyEngine:
    """Named policy documents, and the factory of per-connection authorizers."""

    def __init__(self, policies: Mapping[str, PolicyDocument], *,
                 cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if cache_size < 1:
            raise UsageError("cache_size must be >= 1")
        for name, doc in policies.items():
            if name != doc.name:
                raise UsageError(f"policy registered as {name!r} is named {doc.name!r}")
        self._policies = dict(policies)
        self._cache_size = cache_size

    def __contains__(self, name: object) -> bool:
        return name in self._policies

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._policies)

    def get(self, name: str) -> PolicyDocument | None:
        return self._policies.get(name)

    def authorizer_for(self, principal: Principal) -> Authorizer:
        """The authorizer for a verified token's principal."""
        return self.authorizer(client_id=principal.client_id,
                               identity_id=principal.identity_id,
                               policy_names=(principal.policy_name,))

    def authorizer(self, *, client_id: str, identity_id: str | None,
                   policy_names: Sequence[str]) -> Authorizer:
        """Bind the named policies to one connection (variables resolved here, once).

        An unknown policy name raises ``NotAuthorized``: the connection must be refused,
        not given an empty (or a default) policy.
        """
        if isinstance(policy_names, str):
            raise UsageError("policy_names must be a sequence of names, not a string")
        missing = [n for n in policy_names if n not in self._policies]
        if missing:
            raise NotAuthorized(f"unknown policy {', '.join(map(repr, missing))}")
        values = {VAR_CLIENT_ID: client_id, VAR_IDENTITY_ID: identity_id}
        rules = {a: _Rules() for a in Action}
        for name in policy_names:
            for st in self._policies[name].statements:
                deny = st.effect == "Deny"
                for pattern in st.resources:
                    glob = pattern.bind(values, unresolved=STAR if deny else None)
                    if glob is None:
                        continue
                    why = f"policy {name!r} {st.label()} {pattern.raw!r}"
                    for action in st.actions:
                        r = rules[action]
                        (r.deny if deny else r.allow).append(glob)
                        (r.why_deny if deny else r.why_allow).append(why)
        for r in rules.values():
            r.compile()
        return Authorizer(client_id, identity_id, tuple(policy_names), rules, self._cache_size)
