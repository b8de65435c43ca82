"""The Lambda handler of every exported function: ``hubbub.aws.entry.handler``.

At cold start it reads the function's environment (``HUBBUB_FUNCTION`` names the
manifest's function; ``hubbub.aws.services.AwsConfig`` the rest), loads the application's
handler from the packaged application folder and builds the boto3-backed services. Each
invocation then runs the handler under ``asyncio.run`` with ``hubbub.functions.sdk``
bound to those services, so ``await sdk.publish(...)`` reaches IoT Core. A sync handler
runs in a worker thread, as locally. Errors propagate: Lambda reports them (and retries
asynchronous invocations, and the Kinesis event source bisects the batch).
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubbub.aws.services import AwsConfig, AwsServices, ClientFactory
from hubbub.errors import ConfigError
from hubbub.functions import sdk
from hubbub.functions.runtime import Handler, load_handler


@dataclass(frozen=True)
class Runtime:
    """One function's handler and services, built once per Lambda container."""

    function: str
    handler: Handler
    services: AwsServices

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None,
                 client: ClientFactory | None = None) -> Runtime:
        env = os.environ if env is None else env
        config = AwsConfig.from_env(env)
        name = env.get("HUBBUB_FUNCTION", "")
        spec = config.app.functions.get(name)
        if spec is None:
            raise ConfigError(f"HUBBUB_FUNCTION={name!r}: no such function in application "
                              f"{config.app.name!r}")
        handler = load_handler(config.app.root, config.app.name, spec.handler)
        return cls(name, handler, AwsServices(config, client))

    async def _run(self, event: Any, context: Any) -> Any:
        token = sdk.current.set(self.services)
        try:
            if inspect.iscoroutinefunction(self.handler):
                return await self.handler(event, context)
            # to_thread copies the context, so the sdk is bound in the worker too.
            return await asyncio.to_thread(self.handler, event, context)
        finally:
            sdk.current.reset(token)

    def __call__(self, event: Any, context: Any) -> Any:
        return asyncio.run(self._run(event, context))


_runtime: Runtime | None = None


def handler(event: Any, context: Any) -> Any:
    """Lambda's entry point (``Handler: hubbub.aws.entry.handler``)."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.from_env()
    return _runtime(event, context)
