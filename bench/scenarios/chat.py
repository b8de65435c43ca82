"""Many-to-many chat: M rooms of K clients; every client publishes to its room and
receives everything said there (its own messages included, as MQTT 3.1.1 does)."""

from __future__ import annotations

from bench.context import Context, Result
from bench.scenarios.base import Scenario
from bench.traffic import PubSub

RATE_PER_CLIENT = 0.5  # msg/s per client in the latency run: lively, below amqtt saturation


async def run(ctx: Context) -> Result:
    rooms, per_room = (20, 10) if ctx.quick else (100, 10)
    traffic = PubSub(
        ctx,
        groups=rooms,
        publishers=per_room,
        subscribers=per_room,
        shared=True,
        qos=0,
        payload=64,
    )
    try:
        setup = await traffic.setup()
        result: Result = {
            "setup": setup,
            "params": {
                "rooms": rooms,
                "clients_per_room": per_room,
                "qos": 0,
                "payload_bytes": 64,
                "rate_per_client": RATE_PER_CLIENT,
            },
        }
        if setup["connect_failures"]:
            return result
        result["throughput"] = await traffic.throughput()
        result["latency"] = await traffic.latency(RATE_PER_CLIENT)
        return result
    finally:
        await traffic.close()


CHAT = Scenario("chat", "M rooms x K clients, everyone publishes to and hears their room", run)
