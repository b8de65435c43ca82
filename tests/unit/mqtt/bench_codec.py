"""Codec speed, for the record (not a test): `.venv/bin/python tests/unit/mqtt/bench_codec.py`.

Prints operations per second for the broker's hot paths: encoding a PUBLISH once,
stamping packet ids into a template, decoding a stream of PUBLISHes in socket-sized
chunks, and the same through ServerConnection (validation included).
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

from hubbub.mqtt.codec import Decoder, encode, encode_publish, publish_template
from hubbub.mqtt.connection import ServerConnection
from hubbub.mqtt.packets import Connack, Connect, Properties, Publish

TOPIC = "chat/pub/lobby"
PAYLOAD = b'{"user":"ada","text":"hello, world","timestamp":1795000000000}' * 2  # 126 B
PROPS = Properties(message_expiry_interval=60, user_properties=(("room", "lobby"),))


def rate(label: str, stmt: Callable[[], object], number: int, items: int = 1) -> None:
    """Best of five runs of ``number`` calls, each handling ``items`` packets."""
    seconds = min(timeit.repeat(stmt, number=number, repeat=5))
    per_second = number * items / seconds
    print(f"{label:<56} {per_second:>10,.0f} /s  ({1e6 / per_second:.2f} µs each)")


def decode_stream(data: bytes, version: int, chunk: int) -> int:
    decoder = Decoder(version=version)
    count = 0
    for i in range(0, len(data), chunk):
        decoder.feed(data[i:i + chunk])
        while decoder.next_packet() is not None:
            count += 1
    return count


def through_connection(data: bytes, version: int, chunk: int) -> int:
    conn = ServerConnection()
    conn.receive_data(encode(Connect(protocol_level=version, client_id="bench"), version))
    conn.send(Connack())
    count = 0
    for i in range(0, len(data), chunk):
        count += len(conn.receive_data(data[i:i + chunk]))
    return count


def main() -> None:
    print(f"PUBLISH: topic {len(TOPIC)} B, payload {len(PAYLOAD)} B")
    rate("encode_publish QoS 0, 3.1.1", lambda: encode_publish(TOPIC, PAYLOAD), 200_000)
    rate("encode_publish QoS 0, 5, no properties",
         lambda: encode_publish(TOPIC, PAYLOAD, version=5), 200_000)
    rate("encode_publish QoS 1, 5, expiry + user property",
         lambda: encode_publish(TOPIC, PAYLOAD, 1, packet_id=7, properties=PROPS, version=5),
         100_000)
    rate("encode(Publish) QoS 1, 3.1.1 (generic path)",
         lambda: encode(Publish(TOPIC, PAYLOAD, 1, packet_id=7), 4), 200_000)
    template = publish_template(TOPIC, PAYLOAD, 1)
    rate("PublishTemplate.with_packet_id (per subscriber)",
         lambda: template.with_packet_id(1234), 500_000)
    n = 20_000
    for version in (4, 5):
        qos0 = encode_publish(TOPIC, PAYLOAD, version=version) * n
        qos1 = b"".join(encode_publish(TOPIC, PAYLOAD, 1, packet_id=i % 65535 + 1,
                                       version=version) for i in range(n))
        for name, data in (("QoS 0", qos0), ("QoS 1", qos1)):
            assert decode_stream(data, version, 65536) == n
            rate(f"Decoder.next_packet, {name}, v{version}, 64 KiB feeds",
                 lambda d=data, v=version: decode_stream(d, v, 65536), 1, n)
    data = encode_publish(TOPIC, PAYLOAD, version=5) * n
    assert through_connection(data, 5, 65536) == n
    rate("ServerConnection.receive_data, QoS 0, v5, 64 KiB feeds",
         lambda: through_connection(data, 5, 65536), 1, n)


if __name__ == "__main__":
    main()
