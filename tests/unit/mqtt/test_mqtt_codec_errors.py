"""Every violation the specs name gives a clear PeerError with the right reason code."""

from __future__ import annotations

import pytest

from hubbub.errors import MalformedPacket, PeerError, ProtocolError
from hubbub.mqtt.codec import Decoder, encode
from hubbub.mqtt.errors import PacketTooLarge, UnsupportedProtocolVersion, answer_with_connack
from hubbub.mqtt.packets import Connect, Properties, Publish

MQTT = "00 04 4d 51 54 54"

# (name, decoder version, hex, exception class, text the message must contain)
BAD: list[tuple[str, int | None, str, type[PeerError], str]] = [
    # fixed header
    ("reserved-flags-puback", 4, "41 02 00 01", MalformedPacket, "MQTT-2.1.3-1"),
    ("reserved-flags-subscribe", 4, "80 06 00 01 00 01 61 00", MalformedPacket, "MQTT-2.1.3-1"),
    ("reserved-flags-pubrel", 5, "60 02 00 01", MalformedPacket, "MQTT-2.1.3-1"),
    ("reserved-flags-pingreq", 4, "c1 00", MalformedPacket, "MQTT-2.1.3-1"),
    ("reserved-flags-connect", None, "11 00", MalformedPacket, "MQTT-2.1.3-1"),
    ("packet-type-0", 4, "00 00", MalformedPacket, "reserved packet type 0"),
    ("auth-in-311", 4, "f0 00", MalformedPacket, "reserved packet type 15"),
    ("remaining-length-5-bytes", 4, "30 ff ff ff ff 01", MalformedPacket, "longer than 4"),
    ("remaining-length-not-minimal", 4, "c0 80 00", MalformedPacket, "MQTT-1.5.5-1"),
    ("first-packet-not-connect", None, "c0 00", ProtocolError, "MQTT-3.1.0-1"),
    # strings [MQTT-1.5.4-1/2] and the disallowed code points
    ("invalid-utf8", 4, "30 05 00 03 61 ff 62", MalformedPacket, "MQTT-1.5.4-1"),
    ("utf8-surrogate", 4, "30 05 00 03 ed a0 80", MalformedPacket, "MQTT-1.5.4-1"),
    ("utf8-overlong", 4, "30 04 00 02 c0 af", MalformedPacket, "MQTT-1.5.4-1"),
    ("nul-in-topic", 4, "30 05 00 03 61 00 62", MalformedPacket, "MQTT-1.5.4-2"),
    ("control-char-in-topic", 4, "30 05 00 03 61 01 62", MalformedPacket, "U+0001"),
    ("c1-control-in-topic", 5, "30 05 00 02 c2 85 00", MalformedPacket, "U+0085"),
    ("nonchar-in-topic", 5, "30 06 00 03 ef bf bf 00", MalformedPacket, "U+FFFF"),
    ("nul-in-client-id", None, f"10 0f {MQTT} 04 02 00 00 00 03 61 00 62", MalformedPacket,
     "MQTT-1.5.4-2"),
    ("nul-in-user-property", 5, "30 0d 00 01 74 09 26 00 01 6b 00 03 76 00 76",
     MalformedPacket, "MQTT-1.5.4-2"),
    # PUBLISH
    ("qos-3", 4, "36 05 00 01 74 00 01", MalformedPacket, "MQTT-3.3.1-4"),
    ("dup-on-qos-0", 4, "38 03 00 01 74", MalformedPacket, "MQTT-3.3.1-2"),
    ("publish-packet-id-0", 4, "32 05 00 01 74 00 00", MalformedPacket, "MQTT-2.2.1-3"),
    ("publish-topic-past-end", 4, "30 03 00 05 61", MalformedPacket, "past the end"),
    ("publish-truncated-packet-id", 4, "32 04 00 01 74 00", MalformedPacket, "truncated"),
    # packet identifiers on the other packets
    ("puback-packet-id-0", 4, "40 02 00 00", MalformedPacket, "MQTT-2.2.1-3"),
    ("subscribe-packet-id-0", 4, "82 06 00 00 00 01 61 00", MalformedPacket, "MQTT-2.2.1-3"),
    ("unsubscribe-packet-id-0", 4, "a2 05 00 00 00 01 61", MalformedPacket, "MQTT-2.2.1-3"),
    # SUBSCRIBE / UNSUBSCRIBE
    ("empty-subscribe-311", 4, "82 02 00 01", ProtocolError, "MQTT-3.8.3-2"),
    ("empty-subscribe-5", 5, "82 03 00 01 00", ProtocolError, "MQTT-3.8.3-2"),
    ("empty-unsubscribe", 4, "a2 02 00 01", ProtocolError, "MQTT-3.10.3-2"),
    ("subscribe-qos-3", 4, "82 06 00 01 00 01 61 03", MalformedPacket, "QoS 3"),
    ("subscribe-311-reserved-options", 4, "82 06 00 01 00 01 61 04", MalformedPacket,
     "reserved option bits"),
    ("subscribe-5-reserved-options", 5, "82 07 00 01 00 00 01 61 40", MalformedPacket,
     "MQTT-3.8.3-5"),
    ("subscribe-retain-handling-3", 5, "82 07 00 01 00 00 01 61 30", ProtocolError,
     "retain handling 3"),
    ("shared-subscription-no-local", 5,
     "82 10 00 01 00 00 0a 24 73 68 61 72 65 2f 67 2f 61 04", ProtocolError, "MQTT-3.8.3-4"),
    ("subscribe-truncated-options", 4, "82 05 00 01 00 01 61", MalformedPacket, "truncated"),
    # properties
    ("duplicate-property", 5, "30 0e 00 01 74 0a 02 00 00 00 01 02 00 00 00 02",
     ProtocolError, "appears twice"),
    ("property-not-allowed", 5, "30 09 00 01 74 05 11 00 00 00 01", ProtocolError,
     "Table 2-4"),
    ("unknown-property", 5, "30 06 00 01 74 02 7f 00", MalformedPacket, "unknown property"),
    ("property-length-past-end", 5, "30 05 00 01 74 09 02", MalformedPacket, "past the end"),
    ("property-value-past-properties", 5, "30 09 00 01 74 02 02 00 00 00 01", MalformedPacket,
     "truncated"),
    ("subscription-identifier-0", 5, "30 06 00 01 74 02 0b 00", ProtocolError,
     "subscription identifier 0"),
    ("two-subscription-ids-in-subscribe", 5, "82 0b 00 01 04 0b 01 0b 02 00 01 61 00",
     ProtocolError, "more than one subscription identifier"),
    ("payload-format-indicator-2", 5, "30 06 00 01 74 02 01 02", ProtocolError, "0 or 1"),
    ("receive-maximum-0", None, f"10 11 {MQTT} 05 02 00 00 03 21 00 00 00 01 63",
     ProtocolError, "must not be 0"),
    ("maximum-packet-size-0", None, f"10 13 {MQTT} 05 02 00 00 05 27 00 00 00 00 00 01 63",
     ProtocolError, "must not be 0"),
    # reason codes
    ("undefined-puback-reason", 5, "40 03 00 01 05", MalformedPacket, "not defined for PUBACK"),
    ("undefined-disconnect-reason", 5, "e0 01 01", MalformedPacket, "not defined"),
    ("connack-reserved-flags", 4, "20 02 02 00", MalformedPacket, "MQTT-3.2.2-1"),
    ("connack-311-return-code-6", 4, "20 02 00 06", MalformedPacket, "return code 6"),
    ("suback-311-return-code-3", 4, "90 03 00 01 03", MalformedPacket, "SUBACK"),
    # trailing bytes and wrong lengths
    ("pingreq-with-body", 4, "c0 01 00", MalformedPacket, "unexpected bytes"),
    ("puback-311-with-reason", 4, "40 03 00 01 00", MalformedPacket, "unexpected bytes"),
    ("disconnect-311-with-body", 4, "e0 01 00", MalformedPacket, "unexpected bytes"),
    ("unsuback-311-with-codes", 4, "b0 03 00 01 00", MalformedPacket, "unexpected bytes"),
    # CONNECT
    ("connect-reserved-flag", None, f"10 0d {MQTT} 04 03 00 00 00 01 63", MalformedPacket,
     "MQTT-3.1.2-3"),
    ("will-qos-without-will", None, f"10 0d {MQTT} 04 0a 00 00 00 01 63", MalformedPacket,
     "MQTT-3.1.2-11"),
    ("will-retain-without-will", None, f"10 0d {MQTT} 04 22 00 00 00 01 63", MalformedPacket,
     "MQTT-3.1.2-13"),
    ("will-qos-3", None, f"10 0d {MQTT} 04 1e 00 00 00 01 63", MalformedPacket,
     "MQTT-3.1.2-12"),
    ("password-without-username-311", None,
     f"10 10 {MQTT} 04 42 00 00 00 01 63 00 01 70", MalformedPacket, "MQTT-3.1.2-22"),
    ("connect-trailing-bytes", None, f"10 0e {MQTT} 04 02 00 00 00 01 63 ff", MalformedPacket,
     "unexpected bytes"),
    ("connect-missing-will", None, f"10 0d {MQTT} 04 06 00 00 00 01 63", MalformedPacket,
     "will topic"),
]


def decode_one(version: int | None, data: bytes, max_size: int = 1 << 20) -> object:
    decoder = Decoder(max_size, version=version)
    decoder.feed(data)
    return decoder.next_packet()


@pytest.mark.parametrize(("name", "version", "hex_text", "kind", "text"), BAD,
                         ids=[b[0] for b in BAD])
def test_violation(name: str, version: int | None, hex_text: str, kind: type[PeerError],
                   text: str) -> None:
    with pytest.raises(PeerError) as info:
        decode_one(version, bytes.fromhex(hex_text))
    assert type(info.value) is kind
    assert text in str(info.value)
    assert info.value.mqtt_reason == {MalformedPacket: 0x81, ProtocolError: 0x82}[kind]


def test_the_decoder_stays_failed() -> None:
    decoder = Decoder(version=4)
    decoder.feed(bytes.fromhex("36 05 00 01 74 00 01"))
    with pytest.raises(MalformedPacket) as first:
        decoder.next_packet()
    decoder.feed(bytes.fromhex("c0 00"))
    with pytest.raises(MalformedPacket) as again:
        decoder.next_packet()
    assert again.value is first.value


def test_packet_too_large_is_refused_before_the_body_arrives() -> None:
    decoder = Decoder(max_packet_size=100, version=4)
    decoder.feed(b"\x30\x65")  # 101 bytes announced; total 103 with the header
    with pytest.raises(PacketTooLarge) as info:
        decoder.next_packet()
    assert info.value.mqtt_reason == 0x95
    assert "103 bytes exceeds the maximum packet size 100" in str(info.value)


def test_packet_exactly_at_the_limit_passes() -> None:
    data = encode(Publish("t", b"x" * 95), 4)
    assert len(data) == 100
    assert decode_one(4, data, max_size=100) == Publish("t", b"x" * 95)


@pytest.mark.parametrize(("name", "level", "hex_text"), [
    ("unknown-name", 4, "10 0d 00 04 4d 51 54 58 04 02 00 00 00 01 63"),
    ("mqtt-3.1", 3, "10 0f 00 06 4d 51 49 73 64 70 03 02 00 00 00 01 63"),
    ("level-6", 6, f"10 0d {MQTT} 06 02 00 00 00 01 63"),
    ("level-0", 0, f"10 0d {MQTT} 00 02 00 00 00 01 63"),
])
def test_unsupported_protocol_asks_for_connack(name: str, level: int, hex_text: str) -> None:
    with pytest.raises(UnsupportedProtocolVersion) as info:
        decode_one(None, bytes.fromhex(hex_text))
    exc = info.value
    assert exc.mqtt_reason == 0x84
    assert exc.protocol_level == level
    assert answer_with_connack(exc)
    assert "MQTT-3.1.2-2" in str(exc)


def test_malformed_v5_connect_asks_for_connack_but_311_does_not() -> None:
    with pytest.raises(MalformedPacket) as v5:
        decode_one(None, bytes.fromhex(f"10 0e {MQTT} 05 03 00 00 00 00 01 63"))
    assert answer_with_connack(v5.value)
    with pytest.raises(MalformedPacket) as v4:
        decode_one(None, bytes.fromhex(f"10 0d {MQTT} 04 03 00 00 00 01 63"))
    assert not answer_with_connack(v4.value)


def test_version_is_learned_from_connect() -> None:
    decoder = Decoder()
    decoder.feed(encode(Connect(protocol_level=5, client_id="a"), 5))
    decoder.feed(encode(Publish("t", b"", properties=Properties(topic_alias=3)), 5))
    assert decoder.version is None
    assert isinstance(decoder.next_packet(), Connect)
    assert decoder.version == 5
    publish = decoder.next_packet()
    assert isinstance(publish, Publish) and publish.properties.topic_alias == 3
