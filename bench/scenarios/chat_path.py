"""The full chat path beside plain fan-out of the same shape (issue 4).

``chat-path``: M rooms x K clients; every client publishes chat messages
``{"room": r, "message": {"user": u, "text": t}}`` on ``chat/out`` at QoS 1 and subscribes
to ``chat/pub/{r}`` at QoS 1. The chat app's rules do the rest: ``ChatRepublish`` sends
each valid message to ``chat/pub/{room}`` (QoS 1), ``ChatStore`` puts it in the ``chat``
table, ``ChatToFunction`` invokes the ``chat`` function (which only validates a message).
The PUBACK waits for those actions, the durable put included.

``chat-plain``: the same rooms, clients and payload, but published straight to
``chat/pub/{r}`` (the anonymous policy must allow it: run it on ``hubbub`` with
``allow-all``): what the broker alone costs.

The stamp travels in the message text (bench.jsonwire), since the rule builds a new payload.
"""

from __future__ import annotations

from functools import partial

from bench import jsonwire
from bench.context import Context, Result
from bench.scenarios.base import Scenario
from bench.traffic import PubSub, Template

RATE_PER_CLIENT = 0.5  # msg/s per client in the latency run, as the plain chat scenario
PAYLOAD = 128  # bytes of the published JSON (the republished one is larger: id, clientId...)
QOS = 1


async def run(ctx: Context, through_rules: bool) -> Result:
    rooms, per_room = (20, 10) if ctx.quick else (100, 10)

    def make_group(i: int) -> tuple[str, Template]:
        room = f"{ctx.run_id}-r{i}"
        topic = "chat/out" if through_rules else f"chat/pub/{room}"
        payload = jsonwire.chat_message(room, f"user{i}", PAYLOAD)
        return f"chat/pub/{room}", jsonwire.JsonTemplate(topic, QOS, payload)

    traffic = PubSub(
        ctx,
        groups=rooms,
        publishers=per_room,
        subscribers=per_room,
        shared=True,
        qos=QOS,
        payload=PAYLOAD,
        make_group=make_group,
        read_stamp=jsonwire.publish_stamp,
    )
    try:
        setup = await traffic.setup()
        result: Result = {
            "setup": setup,
            "params": {
                "rooms": rooms,
                "clients_per_room": per_room,
                "qos": QOS,
                "payload_bytes": PAYLOAD,
                "rate_per_client": RATE_PER_CLIENT,
                "publish_topic": "chat/out" if through_rules else "chat/pub/{room}",
            },
        }
        if setup["connect_failures"]:
            return result
        result["throughput"] = await traffic.throughput()
        result["latency"] = await traffic.latency(RATE_PER_CLIENT)
        return result
    finally:
        await traffic.close()


CHAT_PATH = Scenario(
    "chat-path",
    "chat rooms through chat/out -> rules -> chat/pub/{room} + chat table, QoS 1",
    partial(run, through_rules=True),
)
CHAT_PLAIN = Scenario(
    "chat-plain",
    "the chat-path shape published straight to chat/pub/{room}, QoS 1 (no rules)",
    partial(run, through_rules=False),
)
