"""One typed configuration object, read from defaults < config file < environment < CLI.

Every setting has a named default with a one-line reason. The environment prefix is
``HUBBUB_`` (``HUBBUB_MQTT_PORT=0``); the config file is TOML (``--config hubbub.toml``
or ``HUBBUB_CONFIG``), keys spelled as the field names below.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hubbub.errors import ConfigError

ENV_PREFIX = "HUBBUB_"


@dataclass(frozen=True)
class Config:
    #: Loopback by default: a fresh install should not be reachable from the network.
    host: str = "127.0.0.1"
    #: One port for the web client, the HTTP API and MQTT over WebSocket (path /mqtt).
    port: int = 8080
    #: MQTT over TCP for devices and tools; 1883 is the IANA port; 0 turns it off.
    mqtt_port: int = 1883
    #: Everything hubbub keeps (keys, tables, stream, sessions) lives here.
    data: Path = Path("hubbub-data")
    #: The application folder to run; empty means the chat that ships inside hubbub.
    app: Path | None = None
    #: Policy file (IoT policy JSON) for MQTT clients that connect without a token; off by
    #: default (deny by default). ``allow-all`` is accepted for benchmarks and test suites.
    anonymous_policy: str | None = None
    #: IoT Core caps QoS at 1; the chat keeps that. Set 2 for full MQTT QoS 2.
    max_qos: int = 1
    #: Publishes per second per connection, as IoT Core; 0 turns the limit off (benchmarks).
    publish_rate: float = 100.0
    #: Lifetime of issued credentials, as Cognito's default session is one hour.
    token_ttl: int = 3600
    #: Table engine: sqlite (one machine) or postgres (several machines).
    table_engine: str = "sqlite"
    #: PostgreSQL connection string when table_engine is postgres.
    postgres_dsn: str | None = None
    #: Stream engine: sqlite (embedded, durable) or redis (Redis Streams).
    stream_engine: str = "sqlite"
    #: Fan-out between nodes: local (one machine) or redis (pub/sub between nodes).
    fanout: str = "local"
    #: Redis URL for the redis stream engine and redis fan-out.
    redis_url: str | None = None
    #: Seconds between a node's liveness beats in Redis (redis fan-out; docs/multinode.md).
    heartbeat_interval: float = 2.0
    #: Seconds without a beat before the other nodes declare a node dead and publish its
    #: clients' CONNECTION_LOST disconnects: five beats, longer than a GC pause or failover.
    node_timeout: float = 10.0
    #: Event loop for ``hubbub serve``: asyncio (its own), uvloop (needs uvloop installed) or
    #: auto (uvloop when installed). uvloop measured no faster here (bench/NOTES.md).
    event_loop: str = "asyncio"
    #: Log level for the root logger.
    log_level: str = "info"
    #: Seconds to let clients and in-flight work finish on shutdown.
    shutdown_timeout: float = 5.0
    #: Extra, application-specific settings (``[app]`` table in the config file).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


_FIELDS = {f.name: f for f in fields(Config) if f.name != "extra"}


def _coerce(name: str, value: Any) -> Any:
    """Turn a raw value (string from env/CLI, or TOML value) into the field's type."""
    if value is None:
        return None
    kind = _FIELDS[name].type
    try:
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("not an integer")
            return int(value)
        if kind == "float":
            return float(value)
        if kind in ("Path", "Path | None"):
            return Path(os.path.expanduser(str(value))) if str(value) else None
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected {kind}, got {value!r}") from None


def _validate(cfg: Config) -> Config:
    for name in ("port", "mqtt_port"):
        v = getattr(cfg, name)
        if not 0 <= v <= 65535:
            raise ConfigError(f"{name}: {v} is not a TCP port (0-65535)")
    if cfg.max_qos not in (0, 1, 2):
        raise ConfigError(f"max_qos: {cfg.max_qos} is not 0, 1 or 2")
    if cfg.publish_rate < 0:
        raise ConfigError("publish_rate: 0 (off) or more")
    if cfg.token_ttl < 60:
        raise ConfigError("token_ttl: at least 60 seconds")
    if cfg.table_engine not in ("sqlite", "postgres", "memory"):
        raise ConfigError(f"table_engine: unknown engine {cfg.table_engine!r}")
    if cfg.stream_engine not in ("sqlite", "redis", "memory"):
        raise ConfigError(f"stream_engine: unknown engine {cfg.stream_engine!r}")
    if cfg.fanout not in ("local", "redis"):
        raise ConfigError(f"fanout: unknown fan-out {cfg.fanout!r}")
    if cfg.table_engine == "postgres" and not cfg.postgres_dsn:
        raise ConfigError("table_engine postgres needs postgres_dsn")
    if "redis" in (cfg.stream_engine, cfg.fanout) and not cfg.redis_url:
        raise ConfigError("the redis engines need redis_url")
    if not 0 < cfg.heartbeat_interval < cfg.node_timeout:
        raise ConfigError("heartbeat_interval: more than 0 and less than node_timeout")
    if cfg.event_loop not in ("auto", "uvloop", "asyncio"):
        raise ConfigError(f"event_loop: {cfg.event_loop!r} is not auto, uvloop or asyncio")
    if cfg.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"log_level: {cfg.log_level!r} is not debug/info/warning/error")
    return cfg


def load_config(*, file: str | Path | None = None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Build the configuration: defaults, then the file, the environment, the overrides."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    file = file or env.get(ENV_PREFIX + "CONFIG")
    if file:
        path = Path(file)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        for key, value in raw.items():
            key = key.replace("-", "_")
            if key == "app" and isinstance(value, dict):
                extra.update(value)
            elif key in _FIELDS:
                values[key] = _coerce(key, value)
            else:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
    for name in _FIELDS:
        raw_env = env.get(ENV_PREFIX + name.upper())
        if raw_env is not None:
            values[name] = _coerce(name, raw_env)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value)
    return _validate(Config(**values, extra=extra))
