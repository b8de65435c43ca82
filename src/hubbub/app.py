"""An application is a folder: a manifest (``hubbub.json``) plus function code and a web client.

The manifest names the application's functions, tables, streams, rules (in the shape of
``AWS::IoT::TopicRule``'s ``TopicRulePayload``), policies, state machines, HTTP routes and
static site. This module reads and checks it; ``hubbub.server`` brings it to life.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubbub.errors import ConfigError
from hubbub.functions.runtime import FunctionSpec
from hubbub.tables.base import TableSpec

BUILTIN_CHAT = Path(__file__).parent / "apps" / "chat"


#: A table the manifest declares is the engines' ``TableSpec`` (name, keys, TTL attribute).
TableDecl = TableSpec


@dataclass(frozen=True)
class StreamConsumerDecl:
    function: str
    batch_size: int = 100
    batching_window_ms: int = 500
    max_attempts: int = 3
    on_failure: str | None = None  # a function that gets records that keep failing


@dataclass(frozen=True)
class StreamDecl:
    name: str
    shards: int = 1
    retention_hours: int = 24
    consumers: tuple[StreamConsumerDecl, ...] = ()


@dataclass(frozen=True)
class RouteDecl:
    method: str
    path: str
    function: str


@dataclass(frozen=True)
class AppSpec:
    name: str
    root: Path
    functions: Mapping[str, FunctionSpec]
    tables: Mapping[str, TableDecl]
    streams: Mapping[str, StreamDecl]
    rules: Mapping[str, Mapping[str, Any]]  # raw TopicRulePayloads, parsed by hubbub.rules
    policies: Mapping[str, Mapping[str, Any]]  # IoT policy documents
    state_machines: Mapping[str, Mapping[str, Any]]  # ASL definitions
    routes: tuple[RouteDecl, ...]
    static: Path | None
    guest_policy: str | None
    backend_policy: str | None
    settings: Mapping[str, Any] = field(default_factory=dict)


def _obj(raw: Any, where: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object")
    return raw


def _load_json_ref(root: Path, value: Any, where: str) -> Mapping[str, Any]:
    """A manifest value is either inline JSON or a path (relative to the app) to a JSON file."""
    if isinstance(value, str):
        path = (root / value).resolve()
        if root.resolve() not in path.parents:
            raise ConfigError(f"{where}: {value!r} points outside the application folder")
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{where}: cannot read {value!r}: {exc}") from None
        return _obj(loaded, where)
    return _obj(value, where)


def load_app(root: Path | None = None) -> AppSpec:
    """Read and check the manifest of the application in ``root`` (default: the chat)."""
    root = (root or BUILTIN_CHAT).resolve()
    manifest_path = root / "hubbub.json"
    try:
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{root} is not a hubbub application: no hubbub.json") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{manifest_path}: {exc}") from None
    m = _obj(raw, "manifest")
    name = m.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("manifest: 'name' is required")

    functions = {n: FunctionSpec.from_manifest(n, f)
                 for n, f in _obj(m.get("functions"), "functions").items()}

    tables = {}
    for n, t in _obj(m.get("tables"), "tables").items():
        t = _obj(t, f"tables.{n}")
        if not isinstance(t.get("partitionKey"), str) or not isinstance(t.get("sortKey"), str):
            raise ConfigError(f"tables.{n}: partitionKey and sortKey are required")
        tables[n] = TableDecl(n, t["partitionKey"], t["sortKey"], t.get("ttlAttribute"))

    streams = {}
    for n, s in _obj(m.get("streams"), "streams").items():
        s = _obj(s, f"streams.{n}")
        consumers = []
        for i, c in enumerate(s.get("consumers", [])):
            c = _obj(c, f"streams.{n}.consumers[{i}]")
            if c.get("function") not in functions:
                raise ConfigError(f"streams.{n}.consumers[{i}]: unknown function "
                                  f"{c.get('function')!r}")
            consumers.append(StreamConsumerDecl(
                c["function"], int(c.get("batchSize", 100)),
                int(c.get("batchingWindowMs", 500)), int(c.get("maxAttempts", 3)),
                c.get("onFailure")))
        streams[n] = StreamDecl(n, int(s.get("shards", 1)), int(s.get("retentionHours", 24)),
                                tuple(consumers))

    rules = {n: _obj(r, f"rules.{n}") for n, r in _obj(m.get("rules"), "rules").items()}
    policies = {n: _load_json_ref(root, p, f"policies.{n}")
                for n, p in _obj(m.get("policies"), "policies").items()}
    machines = {n: _load_json_ref(root, d, f"stateMachines.{n}")
                for n, d in _obj(m.get("stateMachines"), "stateMachines").items()}

    routes = []
    for i, r in enumerate(m.get("routes", [])):
        r = _obj(r, f"routes[{i}]")
        method, _, path = str(r.get("route", "")).partition(" ")
        if not method or not path.startswith("/"):
            raise ConfigError(f"routes[{i}]: route must look like 'GET /api/...'")
        if r.get("function") not in functions:
            raise ConfigError(f"routes[{i}]: unknown function {r.get('function')!r}")
        routes.append(RouteDecl(method.upper(), path, r["function"]))

    identity = _obj(m.get("identity"), "identity")
    for key in ("guestPolicy", "backendPolicy"):
        if identity.get(key) is not None and identity[key] not in policies:
            raise ConfigError(f"identity.{key}: unknown policy {identity[key]!r}")
    static = m.get("static")
    return AppSpec(
        name=name, root=root, functions=functions, tables=tables, streams=streams,
        rules=rules, policies=policies, state_machines=machines, routes=tuple(routes),
        static=(root / static) if isinstance(static, str) else None,
        guest_policy=identity.get("guestPolicy"), backend_policy=identity.get("backendPolicy"),
        settings=dict(_obj(m.get("settings"), "settings")),
    )
