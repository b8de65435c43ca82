"""One hubbub node: every building block built from ``Config`` + the application, started
and stopped in order.

Start order: data folder, keys, policies, tables, stream, functions, state machines,
rules, broker, web (the last two accept connections, so everything they reach must be
up). Stop order is the reverse, so that in-flight work can still reach what it needs:
stop accepting HTTP and MQTT, tell MQTT clients (v5 DISCONNECT 0x8B), drain stream
consumers, close the stream and tables (their last commits are durable).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from pathlib import Path
from typing import Any

from hubbub.app import AppSpec, load_app
from hubbub.auth.credentials import CredentialIssuer
from hubbub.auth.keys import Keyring
from hubbub.auth.policy import PolicyEngine
from hubbub.auth.ratelimit import RateLimiter
from hubbub.broker.broker import Broker
from hubbub.broker.hooks import Identity
from hubbub.broker.message import Message
from hubbub.broker.settings import BrokerSettings
from hubbub.config import Config
from hubbub.errors import ConfigError
from hubbub.functions.runtime import FunctionRuntime, load_handler
from hubbub.identity import (
    ALLOW_ALL_POLICY,
    ANONYMOUS_POLICY,
    TokenAuthenticator,
    credentials_route,
    load_policies,
    mqtt_url_for,
)
from hubbub.ids import Uuid7
from hubbub.rules import RulesEngine, RuleSpec
from hubbub.services import Services
from hubbub.tables import create_table_engine
from hubbub.web.routes import Router
from hubbub.web.server import WebServer
from hubbub.web.static import StaticSite

log = logging.getLogger("hubbub")

BACKEND_PRINCIPAL = "hubbub:backend"
#: Expired items are invisible at once; sweeping only reclaims space: once a minute.
HOUSEKEEPING_S = 60.0


class Node:
    """A running hubbub: broker, rules, functions, tables, stream, workflows, web."""

    def __init__(self, cfg: Config, app: AppSpec | None = None, *,
                 wall_clock: Any = time.time, broker_settings: BrokerSettings | None = None,
                 ephemeral_mqtt_port: bool = False) -> None:
        self.cfg = cfg
        self.app = app or load_app(cfg.app)
        self._clock = wall_clock
        self._broker_settings = broker_settings
        # Tests ask for MQTT over TCP on a free port (cfg.mqtt_port 0 means "off").
        self._ephemeral_mqtt = ephemeral_mqtt_port
        self._stack = contextlib.AsyncExitStack()
        self.broker: Broker
        self.web: WebServer
        self.services: Services
        self.rules: RulesEngine | None = None
        self.mqtt_port: int | None = None
        #: Set once every block is up and the ports accept connections.
        self.ready = asyncio.Event()
        self.housekeeping = {"runs": 0, "swept_items": 0, "errors": 0}

    @property
    def http_port(self) -> int:
        return self.web.port

    @property
    def url(self) -> str:
        host = self.cfg.host if self.cfg.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        return f"http://{host}:{self.http_port}"

    # -- start -------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise

    async def _start(self) -> None:
        cfg, app = self.cfg, self.app
        data = Path(cfg.data)
        try:
            data.mkdir(parents=True, exist_ok=True)
            keyring = Keyring.load_or_create(data / "keys.json", clock=self._clock)
        except OSError as exc:  # not "cannot listen": say which folder and why
            raise ConfigError(f"data folder {data}: {exc.strerror or exc}") from None
        policies = load_policies(self.app.policies, data, self.cfg.anonymous_policy)
        engine = self._policy_engine = PolicyEngine(policies)

        tables = await self._open_tables(data)
        functions = FunctionRuntime()
        for spec in app.functions.values():
            functions.register(spec, load_handler(app.root, app.name, spec.handler))

        backend = Identity(principal_id=BACKEND_PRINCIPAL, client_id="")
        backend_authz = (engine.authorizer(client_id="", identity_id=BACKEND_PRINCIPAL,
                                           policy_names=(app.backend_policy,))
                         if app.backend_policy else None)
        settings = {**app.settings, **cfg.extra}
        self.services = Services(publish=self._publish, backend=backend,
                                 backend_authorizer=backend_authz, functions=functions,
                                 tables=tables, settings=settings)
        await self._start_streams(data)
        await self._start_workflows(data)

        rules = {name: RuleSpec.from_payload(name, raw) for name, raw in app.rules.items()}
        clock_ms = lambda: int(self._clock() * 1000)  # noqa: E731
        # newuuid() is time-ordered and monotonic here, so that the chat's message ids
        # (timestamp + uuid) keep the room's order even within one millisecond.
        self.rules = RulesEngine(rules, self.services, clock_ms=clock_ms, uuid=Uuid7(clock_ms))
        # Closed after the broker (no new rule actions), before workflows, streams and
        # tables, which queued lambda invocations may still use.
        self._stack.push_async_callback(self.services.drain, cfg.shutdown_timeout)

        issuer = CredentialIssuer(keyring, self._clock, ttl=cfg.token_ttl,
                                  rate_limiter=RateLimiter(self._clock),
                                  guest_policy=app.guest_policy or "chat-guest")
        # CONNECT passwords are verified by the issuer's own token service (same keyring)
        authenticator = TokenAuthenticator(
            issuer.tokens, engine,
            anonymous_policy=self._anonymous_policy_name(), clock=self._clock)
        bs = self._broker_settings or BrokerSettings(
            max_qos=cfg.max_qos, data_dir=data, publish_rate=cfg.publish_rate,
            publish_burst=max(cfg.publish_rate, 1.0))
        self.broker = Broker(bs, authenticator=authenticator, observers=[self], clock=self._clock,
                             on_violation=authenticator.on_violation)
        await self.broker.start()
        # Several nodes: share publishes and retained messages through Redis (a no-op with
        # fanout = "local"). Before the listeners open, so retained messages are loaded.
        from hubbub.fanout_wiring import start_fanout
        await start_fanout(self)
        self._stack.push_async_callback(self._close_front)
        if cfg.mqtt_port or self._ephemeral_mqtt:
            self.mqtt_port = await self.broker.start_tcp(
                cfg.host, 0 if self._ephemeral_mqtt else cfg.mqtt_port)

        router = Router()
        router.add("POST", "/api/credentials", credentials_route(issuer, mqtt_url_for))
        for route in app.routes:
            router.add(route.method, route.path, self._route_handler(route.function))
        static = StaticSite(app.static) if app.static else None
        self.web = WebServer(router, static, self.broker.protocol_factory)
        await self.web.start(cfg.host, cfg.port)
        housekeeping = asyncio.create_task(self._housekeeping(), name="hubbub-housekeeping")
        self._stack.push_async_callback(_cancel, housekeeping)
        self.ready.set()

    def _anonymous_policy_name(self) -> str | None:
        name = self.cfg.anonymous_policy
        if not name:
            return None
        return ALLOW_ALL_POLICY if name == ALLOW_ALL_POLICY else ANONYMOUS_POLICY

    async def _open_tables(self, data: Path) -> dict[str, Any]:
        cfg = self.cfg
        if cfg.table_engine == "sqlite":
            engine = create_table_engine("sqlite", data / "tables.sqlite3", clock=self._clock)
        elif cfg.table_engine == "postgres":
            engine = create_table_engine("postgres", cfg.postgres_dsn, clock=self._clock)
        else:
            engine = create_table_engine("memory", clock=self._clock)
        await engine.open()
        self._stack.push_async_callback(engine.close)
        self._table_engine = engine
        return {d.name: engine.table(d) for d in self.app.tables.values()}

    async def _start_streams(self, data: Path) -> None:
        """The application's streams and their consumers (hubbub.streams)."""
        if not self.app.streams:
            return
        from hubbub.stream_wiring import start_streams
        await start_streams(self, data)

    async def _start_workflows(self, data: Path) -> None:
        """State machines: the application's, plus those functions create at run time."""
        from hubbub.workflow_wiring import start_workflows
        await start_workflows(self, data)

    async def _close_front(self) -> None:
        # The broker first, so that MQTT 5 clients on WebSocket get DISCONNECT 0x8B before
        # their WebSocket closes; then the HTTP port.
        await self.broker.shutdown(self.cfg.shutdown_timeout)
        web = getattr(self, "web", None)
        if web is not None:
            await web.stop(self.cfg.shutdown_timeout)

    async def housekeep(self) -> None:
        """One round: sweep table items past their TTL, trim stream records past retention.
        Both are invisible already once expired; this reclaims the space."""
        self.housekeeping["runs"] += 1
        try:
            self.housekeeping["swept_items"] += await self._table_engine.sweep_expired()
            runtime = getattr(self, "stream_runtime", None)
            if runtime is not None:
                await runtime.housekeep()
        except Exception:  # a disk or network error: say it, try again next round
            self.housekeeping["errors"] += 1
            log.exception("housekeeping failed")

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            await self.housekeep()

    # -- glue --------------------------------------------------------------------------

    async def _publish(self, topic: str, payload: bytes, qos: int, retain: bool,
                       origin: Identity) -> None:
        await self.broker.publish(topic, payload, qos=qos, retain=retain, origin=origin)

    def on_publish(self, msg: Message, origin: Identity | None) -> Any:
        """The broker's publish observer: messages that match a rule go to the rules engine."""
        rules = self.rules
        if rules is None:
            return None
        # None when no rule matches or acts (most publishes: room fan-out to clients), so
        # the broker has nothing to wait for; rules are evaluated here, at once.
        return rules.dispatch(
            msg.topic, msg.payload,
            client_id=origin.client_id if origin and origin.client_id else None,
            principal=origin.principal_id if origin else None, qos=msg.qos)

    def _route_handler(self, function: str) -> Any:
        async def handler(event: Any) -> Any:
            return await self.services.call(function, event)
        return handler

    # -- stop --------------------------------------------------------------------------

    async def stop(self) -> None:
        await self._stack.aclose()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def run_forever(cfg: Config) -> None:
    """``hubbub serve``: start, say where, wait for SIGINT/SIGTERM, stop gracefully."""
    node = Node(cfg)
    try:
        await node.start()
    except OSError as exc:
        raise ConfigError(f"cannot listen: {exc.strerror or exc}") from None
    # A full GC pass walks every live object with the loop stopped: with thousands of
    # publishes in flight it took 120-150 ms, about once a second during a stream burst,
    # and was the chat's p99 (bench/NOTES-stream.md). Startup objects are frozen out of
    # it; a larger young generation lets per-publish objects die before they are promoted.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    room = node.app.settings.get("defaultRoom", "lobby")
    print(f"hubbub is running: open {node.url}/{room}", flush=True)
    print(f"  MQTT over WebSocket: {node.url.replace('http', 'ws')}/mqtt", flush=True)
    if node.mqtt_port:
        print(f"  MQTT over TCP: {cfg.host}:{node.mqtt_port}", flush=True)
    on = "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
    print(f"  data: {Path(cfg.data).resolve()}  (event loop: {on}; Ctrl+C stops)", flush=True)
    await stop.wait()
    print("hubbub: shutting down…", flush=True)
    await node.stop()
