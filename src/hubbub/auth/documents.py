"""AWS IoT policy documents: parsing and validation into typed, immutable statements.

The JSON format is IoT Core's (IAM grammar, IoT actions and resources):
``{"Version": "2012-10-17", "Statement": <object or list>}``; each statement has ``Effect``
(``Allow``/``Deny``), ``Action`` (string or list: ``iot:Connect``, ``iot:Publish``,
``iot:Subscribe``, ``iot:Receive``, ``iot:RetainPublish``, ``iot:*``, IAM wildcards) and
``Resource`` (string or list of ARNs ``arn:aws:iot:<region>:<account>:<type>/<name>`` or
``*``). Resource names take IAM wildcards (``*`` any characters, ``/`` included; ``?`` one
character) and the policy variables ``${iot:ClientId}`` and
``${cognito-identity.amazonaws.com:sub}``; ``${*}``, ``${?}``, ``${$}`` are the literal
characters (IAM policy variables reference, "Special characters").

Locally there is no region or account: both ARN fields are accepted as written and ignored,
so a document exported to AWS works unchanged. ``Condition``, ``NotAction``,
``NotResource`` and ``Principal`` are refused with a clear error rather than ignored: an
ignored ``Condition`` would silently grant more than the author wrote.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from hubbub.errors import ConfigError

VERSION = "2012-10-17"  # the only version with policy variables (IAM Version element)

# Pattern tokens: a one-character string is that literal character; these two are wildcards.
STAR = "<*>"
ANY1 = "<?>"
Glob = tuple[str, ...]


class PolicyError(ConfigError):
    """A policy document is invalid; the message names the policy and the statement."""


class Action(enum.Enum):
    """The IoT actions hubbub's broker checks."""

    CONNECT = "iot:Connect"
    PUBLISH = "iot:Publish"
    RETAIN_PUBLISH = "iot:RetainPublish"
    SUBSCRIBE = "iot:Subscribe"
    RECEIVE = "iot:Receive"


# Other IoT data-plane actions are valid in documents (they can be exported to AWS) but
# never match anything locally. A name outside this list is a typo, and a typo in a Deny
# would silently deny nothing, so it is an error.
_OTHER_IOT_ACTIONS = frozenset(a.lower() for a in (
    "iot:GetRetainedMessage", "iot:ListRetainedMessages", "iot:GetThingShadow",
    "iot:UpdateThingShadow", "iot:DeleteThingShadow", "iot:ListNamedShadowsForThing",
    "iot:AssumeRoleWithCertificate", "iot:DescribeJobExecution",
    "iot:GetPendingJobExecutions", "iot:StartNextPendingJobExecution",
    "iot:UpdateJobExecution", "iot:CreateKeysAndCertificate", "iot:CreateCertificateFromCsr",
    "iot:RegisterThing", "iot:DescribeEndpoint",
))
_KNOWN_ACTIONS = frozenset(a.value.lower() for a in Action) | _OTHER_IOT_ACTIONS
_ACTION_RE = re.compile(r"\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+")
_RESOURCE_TYPES = frozenset((
    "client", "topic", "topicfilter", "thing", "thinggroup", "thingtype", "rolealias", "cert",
    "cacert", "job", "jobtemplate", "policy", "authorizer", "domainconfiguration", "stream",
    "rule", "destination", "provisioningtemplate", "billinggroup", "fleetmetric", "package",
    "otaupdate", "dimension", "securityprofile", "custommetric", "mitigationaction",
    "scheduledaudit", "index", "tunnel",
))
_STATEMENT_KEYS = frozenset(("Sid", "Effect", "Action", "Resource"))
_UNSUPPORTED_KEYS = frozenset(("Condition", "NotAction", "NotResource", "Principal",
                               "NotPrincipal"))

#: The policy variables hubbub resolves (names compared case-insensitively, as IAM does).
VAR_CLIENT_ID = "iot:clientid"
VAR_IDENTITY_ID = "cognito-identity.amazonaws.com:sub"
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


@dataclass(frozen=True, slots=True)
class Var:
    """A policy variable inside a resource pattern (``name`` lower-cased)."""

    name: str


@dataclass(frozen=True, slots=True)
class ResourcePattern:
    """A resource's ``<type>/<name>`` part: glob tokens and variables, in order."""

    raw: str
    parts: tuple[str | Var, ...]  # a Var, or a glob token (literal char, STAR or ANY1)

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parts if isinstance(p, Var))

    def bind(self, values: Mapping[str, str | None], *, unresolved: str | None) -> Glob | None:
        """Substitute variables; their values are literal text, never wildcards.

        An unresolved variable gives ``None`` (the resource does not match) when
        ``unresolved`` is None, otherwise that token (STAR) in its place.
        """
        out: list[str] = []
        for p in self.parts:
            if isinstance(p, Var):
                value = values.get(p.name)
                if value is None:
                    if unresolved is None:
                        return None
                    out.append(unresolved)
                else:
                    out.extend(value)  # each character literal: a client id "*" is just "*"
            else:
                out.append(p)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Statement:
    """One validated statement: which of hubbub's actions it covers, and where."""

    effect: Literal["Allow", "Deny"]
    actions: frozenset[Action]
    resources: tuple[ResourcePattern, ...]
    index: int
    sid: str | None = None

    def label(self) -> str:
        return f"statement {self.index}" + (f" ({self.sid})" if self.sid else "")


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    """A named, validated IoT policy."""

    name: str
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, name: str, doc: object) -> PolicyDocument:
        """Validate a decoded JSON document; raise :class:`PolicyError` naming the fault."""
        where = f"policy {name!r}"
        if not isinstance(doc, dict):
            raise PolicyError(f"{where}: the document must be a JSON object")
        extra = set(doc) - {"Version", "Statement", "Id"}
        if extra:
            raise PolicyError(f"{where}: unknown top-level keys {sorted(extra)}")
        if doc.get("Version") != VERSION:
            raise PolicyError(f"{where}: \"Version\" must be \"{VERSION}\"")
        raw = doc.get("Statement")
        items = [raw] if isinstance(raw, dict) else raw
        if not isinstance(items, list) or not items:
            raise PolicyError(f"{where}: \"Statement\" must be an object or a non-empty list")
        return cls(name, tuple(_statement(where, i, s) for i, s in enumerate(items)))

    @classmethod
    def from_json(cls, name: str, text: str | bytes) -> PolicyDocument:
        try:
            doc = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PolicyError(f"policy {name!r}: not valid JSON: {exc}") from None
        return cls.parse(name, doc)


def load_policy_file(path: Path, name: str | None = None) -> PolicyDocument:
    """Read a policy document from a file; its name defaults to the file's stem."""
    label = name or path.stem
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"policy {label!r}: cannot read {path}: {exc.strerror}") from None
    return PolicyDocument.from_json(label, text)


def builtin_policies() -> dict[str, PolicyDocument]:
    """The policies shipped in ``hubbub/auth/policies``: chat-guest, chat-backend, anonymous."""
    out: dict[str, PolicyDocument] = {}
    for entry in resources.files("hubbub.auth").joinpath("policies").iterdir():
        if entry.name.endswith(".json"):
            name = entry.name.removesuffix(".json")
            out[name] = PolicyDocument.from_json(name, entry.read_bytes())
    return out


def _strings(where: str, key: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise PolicyError(f"{where}: \"{key}\" must be a string or a non-empty list of strings")
    return items


def _statement(policy: str, index: int, s: Any) -> Statement:
    where = f"{policy} statement {index}"
    if not isinstance(s, dict):
        raise PolicyError(f"{where}: must be an object")
    unsupported = _UNSUPPORTED_KEYS & set(s)
    if unsupported:
        raise PolicyError(f"{where}: {sorted(unsupported)} not supported by hubbub; "
                          "a statement hubbub cannot evaluate exactly is refused")
    unknown = set(s) - _STATEMENT_KEYS
    if unknown:
        raise PolicyError(f"{where}: unknown keys {sorted(unknown)}")
    sid = s.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyError(f"{where}: \"Sid\" must be a string")
    effect = s.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{where}: \"Effect\" must be \"Allow\" or \"Deny\", got {effect!r}")
    if "Action" not in s or "Resource" not in s:
        raise PolicyError(f"{where}: needs both \"Action\" and \"Resource\"")
    actions: set[Action] = set()
    for a in _strings(where, "Action", s["Action"]):
        actions |= _actions(where, a)
    patterns = tuple(_resource(where, r) for r in _strings(where, "Resource", s["Resource"]))
    return Statement(effect, frozenset(actions), patterns, index, sid)


def _wild_re(text: str) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(body, re.IGNORECASE | re.DOTALL)


def _actions(where: str, action: str) -> set[Action]:
    if not _ACTION_RE.fullmatch(action):
        raise PolicyError(f"{where}: action {action!r} is not '*' or 'service:Name'")
    # IAM action names are case-insensitive and may use * and ? wildcards.
    if "*" not in action and "?" not in action:
        low = action.lower()
        if low.startswith("iot:") and low not in _KNOWN_ACTIONS:
            raise PolicyError(f"{where}: unknown action {action!r} "
                              f"(hubbub checks {', '.join(a.value for a in Action)})")
    pattern = _wild_re(action)
    return {a for a in Action if pattern.fullmatch(a.value)}


def _resource(where: str, raw: str) -> ResourcePattern:
    if "\x00" in raw:
        raise PolicyError(f"{where}: resource contains NUL")
    if raw == "*":
        return ResourcePattern(raw, (STAR,))
    fields = raw.split(":", 5)  # the resource part may itself contain ':' (topic names)
    if len(fields) != 6 or fields[0] != "arn":
        raise PolicyError(f"{where}: resource {raw!r} must be '*' or "
                          "arn:aws:iot:<region>:<account>:<type>/<name>")
    if not fields[1].startswith("aws") or not _wild_re(fields[2]).fullmatch("iot"):
        raise PolicyError(f"{where}: resource {raw!r} is not an AWS IoT ARN")
    rest = fields[5]
    kind = rest.split("/", 1)[0]
    if "*" not in kind and "?" not in kind and "$" not in kind and kind not in _RESOURCE_TYPES:
        raise PolicyError(f"{where}: resource {raw!r} has unknown type {kind!r} "
                          "(client, topic, topicfilter, ...)")
    return ResourcePattern(raw, _tokens(where, raw, rest))


def _tokens(where: str, raw: str, text: str) -> tuple[str | Var, ...]:
    out: list[str | Var] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "$" and text.startswith("${", i):
            end = text.find("}", i + 2)
            if end < 0:
                raise PolicyError(f"{where}: unterminated '${{' in resource {raw!r}")
            name = text[i + 2:end].strip()
            if not name:
                raise PolicyError(f"{where}: empty '${{}}' in resource {raw!r}")
            if name in _ESCAPES:
                out.append(_ESCAPES[name])
            else:
                out.append(Var(name.lower()))
            i = end + 1
            continue
        out.append(STAR if c == "*" else ANY1 if c == "?" else c)
        i += 1
    return tuple(out)
