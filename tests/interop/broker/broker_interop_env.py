"""What the broker interop tests share: the running servers."""

from __future__ import annotations

from dataclasses import dataclass

from hubbub.broker.broker import Broker


@dataclass
class Servers:
    broker: Broker
    tcp_port: int
    ws_port: int
