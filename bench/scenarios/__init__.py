"""The scenario registry: name -> "module:attribute", imported only when chosen.

A scenario is a ``Scenario`` (bench.scenarios.base); to add one, write a small module
under bench/scenarios/ and add a line here. Later issues add policy on/off, the full chat
path (chat/out -> rule -> chat/pub/{room} with storage), streams and state machines.
"""

from __future__ import annotations

import importlib

from bench.scenarios.base import Scenario

REGISTRY: dict[str, str] = {
    "fanout-100": "bench.scenarios.fanout:FANOUT_100",
    "fanout-100-qos1": "bench.scenarios.fanout:FANOUT_100_QOS1",
    "fanout-100-1k": "bench.scenarios.fanout:FANOUT_100_1K",
    "fanout-1000": "bench.scenarios.fanout:FANOUT_1000",
    "fanout-1000-qos1": "bench.scenarios.fanout:FANOUT_1000_QOS1",
    "chat": "bench.scenarios.chat:CHAT",
    "connect-storm": "bench.scenarios.connect_storm:CONNECT_STORM",
    "idle-10k": "bench.scenarios.idle:IDLE_10K",
    # hubbub's own features (no Mosquitto/amqtt equivalent): RESULTS.md's feature sections
    "chat-path": "bench.scenarios.chat_path:CHAT_PATH",
    "chat-plain": "bench.scenarios.chat_path:CHAT_PLAIN",
    "stream": "bench.scenarios.stream:STREAM",
    "stream-mixed": "bench.scenarios.stream:STREAM_MIXED",
    "stream-3k": "bench.scenarios.stream:STREAM_3K",
    "stream-burst": "bench.scenarios.stream_burst:STREAM_BURST",
}
#: Not run by default (hubbub only, compared with each other, not with other brokers).
FEATURES = ["chat-path", "chat-plain", "stream", "stream-mixed", "stream-3k", "stream-burst"]
DEFAULT = [n for n in REGISTRY if n not in FEATURES]
QUICK_DEFAULT = ["fanout-100", "fanout-1000", "chat", "connect-storm", "idle-10k"]


def load(name: str) -> Scenario:
    """The scenario registered under ``name``; KeyError lists the known names."""
    try:
        ref = REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(REGISTRY)}") from None
    module, _, attr = ref.partition(":")
    scenario = getattr(importlib.import_module(module), attr)
    if not isinstance(scenario, Scenario):
        raise TypeError(f"{ref} is not a Scenario")
    return scenario
