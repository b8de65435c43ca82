from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from broker_interop_env import Servers

from hubbub.broker.broker import Broker
from hubbub.broker.hooks import AllowAll
from hubbub.broker.settings import BrokerSettings


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    from hubbub.web.routes import Router
    from hubbub.web.server import WebServer

    broker = Broker(BrokerSettings(), authenticator=AllowAll())
    tcp_port = await broker.start_tcp("127.0.0.1", 0)
    web = WebServer(Router(), mqtt_protocol_factory=broker.protocol_factory)
    await web.start("127.0.0.1", 0)
    yield Servers(broker, tcp_port, web.port)
    await broker.shutdown(timeout=2)
    await web.stop(timeout=2)
