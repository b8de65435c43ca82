"""The one HTTP port: the static site, the HTTP API and MQTT over WebSocket at ``/mqtt``.

Dispatch order: a WebSocket upgrade goes to ``/mqtt`` (handled in ``connection``); a route
of the router wins next; then the static site; then 404. Every error is JSON
``{"message": ...}`` as API Gateway sends its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from hubbub.errors import PeerError
from hubbub.transport.websocket import DEFAULT_MAX_MESSAGE, WebSocketTransport
from hubbub.web.connection import MQTT_PATH, ConnectionHooks, HttpConnection, Limits
from hubbub.web.events import BadHandlerResponse, build_event, error_response, infer_response
from hubbub.web.routes import Match, MethodNotAllowed, Router
from hubbub.web.static import StaticSite
from hubbub.web.types import HttpRequest, HttpResponse

log = logging.getLogger(__name__)


class WebServer:
    """Serves ``routes``, ``static`` and (if given) MQTT over WebSocket on one port."""

    def __init__(self, routes: Router, static: StaticSite | None = None,
                 mqtt_protocol_factory: Callable[[], asyncio.Protocol] | None = None, *,
                 max_body: int = 1024 * 1024, max_header_size: int = 16 * 1024,
                 header_timeout: float = 10.0, body_timeout: float = 30.0,
                 keepalive_timeout: float = 15.0, max_ws_message: int = DEFAULT_MAX_MESSAGE,
                 ws_close_timeout: float = 5.0, api_id: str = "hubbub",
                 account_id: str = "000000000000",
                 clock: Callable[[], float] = time.time) -> None:
        self.routes = routes
        self.static = static
        self.limits = Limits(max_body=max_body, max_header_size=max_header_size,
                             header_timeout=header_timeout, body_timeout=body_timeout,
                             keepalive_timeout=keepalive_timeout, max_ws_message=max_ws_message,
                             ws_close_timeout=ws_close_timeout)
        self.api_id = api_id
        self.account_id = account_id
        self._clock = clock
        self._server: asyncio.Server | None = None
        self._http: set[HttpConnection] = set()
        self._ws: set[WebSocketTransport] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._hooks = ConnectionHooks(
            dispatch=self.dispatch, mqtt_protocol_factory=mqtt_protocol_factory,
            spawn=self._spawn, http_closed=self._http_closed, ws_opened=self._ws.add,
            ws_closed=self._ws_closed, limits=self.limits)

    @property
    def mqtt_protocol_factory(self) -> Callable[[], asyncio.Protocol] | None:
        """Makes the broker's protocol for each WebSocket at /mqtt (settable before start)."""
        return self._hooks.mqtt_protocol_factory

    @mqtt_protocol_factory.setter
    def mqtt_protocol_factory(self, factory: Callable[[], asyncio.Protocol] | None) -> None:
        self._hooks.mqtt_protocol_factory = factory

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str | None, port: int) -> None:
        """Listen on ``host``:``port`` (port 0 picks a free one; see ``.port``)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._make_connection, host, port)

    @property
    def sockets(self) -> tuple[Any, ...]:
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def port(self) -> int:
        for sock in self.sockets:
            return int(sock.getsockname()[1])
        raise RuntimeError("WebServer is not started")

    @property
    def connection_count(self) -> int:
        return len(self._http) + len(self._ws)

    async def stop(self, timeout: float) -> None:
        """Stop: no new connections, idle ones closed, requests in flight finish and
        WebSockets get close 1001 within ``timeout``; whatever is left is aborted."""
        if self._server is None:
            return
        # 1. Stop accepting.
        self._server.close()
        # 2. Idle keep-alive connections close now, busy ones after their response.
        for conn in list(self._http):
            conn.shutdown()
        # 3. WebSockets: "going away" (RFC 6455 §7.4.1); the broker normally closed them.
        for ws in list(self._ws):
            ws.close_with(1001, "going away")
        # 4. Wait for everyone to leave, then force the rest.
        if self._http or self._ws:
            self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except TimeoutError:
                log.warning("web stop: %d connections left after %.1fs, aborting",
                            len(self._http) + len(self._ws), timeout)
        for conn in list(self._http):
            conn.abort()
        for ws in list(self._ws):
            ws.abort()
        # 5. Handlers still running after the grace period are cancelled.
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    def _make_connection(self) -> HttpConnection:
        conn = HttpConnection(self._hooks)
        self._http.add(conn)
        return conn

    def _http_closed(self, conn: HttpConnection) -> None:
        self._http.discard(conn)
        self._check_idle()

    def _ws_closed(self, ws: WebSocketTransport) -> None:
        self._ws.discard(ws)
        self._check_idle()

    def _check_idle(self) -> None:
        if not self._http and not self._ws:
            self._idle.set()

    def _spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        assert isinstance(coro, Coroutine)
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("HTTP connection task failed", exc_info=task.exception())

    # -- dispatch ----------------------------------------------------------------------

    async def dispatch(self, request: HttpRequest) -> HttpResponse:
        """The response for one request that is not a WebSocket upgrade."""
        match = self.routes.match(request.method, request.path)
        if isinstance(match, Match):
            return await self._call(match, request)
        if isinstance(match, MethodNotAllowed):
            return error_response(405, "Method Not Allowed", (("allow", ", ".join(match.allowed)),))
        if request.path == MQTT_PATH:
            return error_response(426, "MQTT needs a WebSocket upgrade (subprotocol mqtt)",
                                  (("upgrade", "websocket"),))
        if self.static is not None and not request.path.startswith("/api/"):
            found = await self.static.respond(request)
            if found is not None:
                return found
        return error_response(404, "Not Found")

    async def _call(self, match: Match, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        ids = (("apigw-requestid", request_id),)
        event = build_event(request, match.route.route_key, match.path_params,
                            request_id=request_id, epoch_ms=int(self._clock() * 1000),
                            api_id=self.api_id, account_id=self.account_id)
        try:
            result = await match.route.handler(event)
            response = infer_response(result)
        except PeerError as exc:
            headers: tuple[tuple[str, str], ...] = ids
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                headers = (*ids, ("retry-after", str(max(0, int(retry_after)))))
            status = exc.http_status if 400 <= exc.http_status <= 599 else 400
            return error_response(status, str(exc), headers)
        except BadHandlerResponse as exc:
            log.error("route %s (request %s) returned a bad response: %s",
                      match.route.route_key, request_id, exc)
            return error_response(500, "Internal Server Error", ids)
        except Exception:
            log.exception("route %s failed (request %s)", match.route.route_key, request_id)
            return error_response(500, "Internal Server Error", ids)
        return HttpResponse(response.status, (*response.headers, *ids), response.body)
