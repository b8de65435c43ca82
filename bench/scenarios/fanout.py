"""Room fan-out: 1 publisher, N subscribers on one topic (QoS 0 or 1, 64 B or 1 KiB)."""

from __future__ import annotations

from functools import partial

from bench.context import Context, Result
from bench.scenarios.base import Scenario
from bench.traffic import PubSub

# Offered load for the latency run, in deliveries/s, the same for every broker, chosen
# below the slowest broker's saturation (amqtt manages ~4,000/s at QoS 1 to 1,000
# subscribers) so latency is not queueing delay. The report shows it as % of each max.
LATENCY_DELIVERIES_PER_S = 2_000


async def run(
    ctx: Context, subscribers: int, qos: int, payload: int, offered: int = LATENCY_DELIVERIES_PER_S
) -> Result:
    traffic = PubSub(
        ctx, groups=1, publishers=1, subscribers=subscribers, shared=False, qos=qos, payload=payload
    )
    try:
        setup = await traffic.setup()
        result: Result = {
            "setup": setup,
            "params": {"subscribers": subscribers, "qos": qos, "payload_bytes": payload},
        }
        if setup["connect_failures"]:
            return result
        result["throughput"] = await traffic.throughput()
        result["latency"] = await traffic.latency(offered / subscribers)
        return result
    finally:
        await traffic.close()


def _make(
    n: int, qos: int, payload: int, name: str, offered: int = LATENCY_DELIVERIES_PER_S
) -> Scenario:
    return Scenario(
        name,
        f"1 publisher -> {n} subscribers, QoS {qos}, {payload} B payload",
        partial(run, subscribers=n, qos=qos, payload=payload, offered=offered),
    )


FANOUT_100 = _make(100, 0, 64, "fanout-100")
FANOUT_100_QOS1 = _make(100, 1, 64, "fanout-100-qos1")
FANOUT_100_1K = _make(100, 0, 1024, "fanout-100-1k")
# 2 messages/s would give the latency percentiles only 2 x 5 distinct messages; amqtt
# delivers ~17,000/s at QoS 0 to 1,000 subscribers, so 5,000/s stays below saturation.
FANOUT_1000 = _make(1000, 0, 64, "fanout-1000", offered=5_000)
FANOUT_1000_QOS1 = _make(1000, 1, 64, "fanout-1000-qos1")
