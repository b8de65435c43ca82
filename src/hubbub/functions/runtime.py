"""Invoking handlers: Lambda signature, timeouts, concurrency limits, bounded retries.

A handler that raises, hangs or returns something that is not JSON never hurts the
server: the caller gets a ``FunctionError`` that names the request id, and the error is
logged. Sync handlers run in a worker thread (a hung sync handler keeps its thread until
it returns: Python cannot kill a thread; the invocation still times out for the caller).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubbub.errors import ConfigError, HubbubError
from hubbub.functions.context import LambdaContext

log = logging.getLogger("hubbub.functions")

Handler = Callable[[Any, LambdaContext], Any]


class FunctionError(HubbubError):
    """An invocation failed: the handler raised, timed out or returned garbage."""

    def __init__(self, function: str, request_id: str, error_type: str, message: str) -> None:
        super().__init__(f"{function} ({request_id}): {error_type}: {message}")
        self.function = function
        self.request_id = request_id
        self.error_type = error_type
        self.error_message = message

    def payload(self) -> dict[str, Any]:
        """The error in Lambda's shape (``errorType``, ``errorMessage``)."""
        return {"errorType": self.error_type, "errorMessage": self.error_message,
                "requestId": self.request_id}


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str  # "module:attribute", module relative to the application folder
    timeout: float = 10.0  # seconds; Lambda's default is 3, chat work is small but may batch
    concurrency: int = 32  # at most this many invocations at once, like reserved concurrency
    retries: int = 0  # extra attempts for asynchronous invocations (Lambda's async default: 2)

    @classmethod
    def from_manifest(cls, name: str, raw: Mapping[str, Any]) -> FunctionSpec:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("handler"), str):
            raise ConfigError(f"function {name!r}: needs a 'handler' of the form 'module:attr'")
        handler = raw["handler"]
        if ":" not in handler:
            raise ConfigError(f"function {name!r}: handler {handler!r} is not 'module:attr'")
        try:
            timeout = float(raw.get("timeout", 10))
            concurrency = int(raw.get("concurrency", 32))
            retries = int(raw.get("retries", 0))
        except (TypeError, ValueError):
            raise ConfigError(
                f"function {name!r}: timeout/concurrency/retries must be numbers") from None
        if timeout <= 0 or concurrency < 1 or not 0 <= retries <= 5:
            raise ConfigError(f"function {name!r}: timeout > 0, concurrency >= 1, retries 0-5")
        return cls(name, handler, timeout, concurrency, retries)


def load_handler(app_dir: Path, app_name: str, ref: str) -> Handler:
    """Import ``module:attr`` from the application folder under a private package name."""
    module_name, _, attr = ref.partition(":")
    package = f"hubbub_app_{app_name.replace('-', '_')}"
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            package, app_dir / "__init__.py", submodule_search_locations=[str(app_dir)])
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot load application package from {app_dir}")
        pkg = importlib.util.module_from_spec(spec)
        sys.modules[package] = pkg
        if (app_dir / "__init__.py").exists():
            spec.loader.exec_module(pkg)
    try:
        module = importlib.import_module(f"{package}.{module_name}")
    except Exception as exc:  # an application's import error is a config error, with cause
        raise ConfigError(f"handler {ref!r}: cannot import: {exc!r}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"handler {ref!r}: {attr!r} is not a callable in {module_name}")
    return fn  # type: ignore[no-any-return]


def _check_json(value: Any) -> Any:
    json.dumps(value)  # raises TypeError/ValueError for garbage
    return value


class FunctionRuntime:
    """Holds the application's functions and invokes them."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._specs: dict[str, FunctionSpec] = {}
        self._handlers: dict[str, Handler] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self.stats: dict[str, dict[str, int]] = {}

    def register(self, spec: FunctionSpec, handler: Handler) -> None:
        self._specs[spec.name] = spec
        self._handlers[spec.name] = handler
        self._limits[spec.name] = asyncio.Semaphore(spec.concurrency)
        self.stats[spec.name] = {"invocations": 0, "errors": 0, "timeouts": 0}

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    @property
    def names(self) -> list[str]:
        return sorted(self._specs)

    def spec(self, name: str) -> FunctionSpec:
        """Function ``name``'s declaration; Lambda's ResourceNotFoundException if none."""
        spec = self._specs.get(name)
        if spec is None:
            raise FunctionError(name, "-", "ResourceNotFoundException",
                                f"function {name!r} does not exist")
        return spec

    async def invoke(self, name: str, event: Any, *, asynchronous: bool = False) -> Any:
        """Run function ``name`` on ``event``; retries apply to asynchronous invocations."""
        spec = self.spec(name)
        attempts = 1 + (spec.retries if asynchronous else 0)
        for attempt in range(attempts):
            try:
                return await self._invoke_once(spec, event)
            except FunctionError:
                if attempt + 1 == attempts:
                    raise
        raise AssertionError("unreachable")

    async def _invoke_once(self, spec: FunctionSpec, event: Any) -> Any:
        request_id = str(uuid.uuid4())
        handler = self._handlers[spec.name]
        stats = self.stats[spec.name]
        ctx = LambdaContext(spec.name, request_id, self._clock() + spec.timeout, self._clock)
        async with self._limits[spec.name]:
            stats["invocations"] += 1
            try:
                if inspect.iscoroutinefunction(handler):
                    coro = handler(event, ctx)
                else:
                    coro = asyncio.to_thread(handler, event, ctx)
                result = await asyncio.wait_for(coro, spec.timeout)
                return _check_json(result)
            except TimeoutError:
                stats["timeouts"] += 1
                stats["errors"] += 1
                log.error("function %s request %s timed out after %.1fs",
                          spec.name, request_id, spec.timeout)
                raise FunctionError(spec.name, request_id, "Sandbox.Timedout",
                                    f"Task timed out after {spec.timeout:.2f} seconds") from None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                stats["errors"] += 1
                log.exception("function %s request %s failed", spec.name, request_id)
                raise FunctionError(spec.name, request_id, type(exc).__name__,
                                    str(exc)) from exc
