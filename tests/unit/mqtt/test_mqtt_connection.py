"""The sans-IO ServerConnection: state machine, validation, quotas, aliases, goodbyes."""

from __future__ import annotations

import pytest

from hubbub.errors import MalformedPacket, PeerError, ProtocolError, UsageError
from hubbub.mqtt.codec import Decoder, encode
from hubbub.mqtt.connection import ConnectionLimits, ConnectionState, ServerConnection
from hubbub.mqtt.errors import (
    ConnectRefused,
    PacketTooLarge,
    ReceiveMaximumExceeded,
    TopicAliasInvalid,
)
from hubbub.mqtt.packets import (
    EMPTY_PROPERTIES,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    Properties,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Will,
)
from hubbub.mqtt.topics import TopicError


def connected(version: int = 5, limits: ConnectionLimits | None = None,
              props: Properties = EMPTY_PROPERTIES, keep_alive: int = 0) -> ServerConnection:
    conn = ServerConnection(limits)
    [connect] = conn.receive_data(encode(Connect(protocol_level=version, client_id="c",
                                                 keep_alive=keep_alive, properties=props),
                                         version))
    assert isinstance(connect, Connect)
    assert conn.state is ConnectionState.CONNECTING
    conn.send(Connack())
    assert conn.state.name == "CONNECTED"  # (mypy keeps the narrowing of the line above)
    return conn


def decode(data: bytes, version: int = 5) -> list[Packet]:
    decoder = Decoder(version=version)
    decoder.feed(data)
    out = []
    while (packet := decoder.next_packet()) is not None:
        out.append(packet)
    return out


def fail(conn: ServerConnection, packet: Packet | bytes, version: int = 5) -> PeerError:
    data = packet if isinstance(packet, bytes) else encode(packet, version)
    with pytest.raises(PeerError) as info:
        conn.receive_data(data)
    assert conn.state is ConnectionState.ERROR
    assert conn.error is info.value
    assert conn.error_reason_hint == info.value.mqtt_reason
    return info.value


# -- CONNECT and the states -------------------------------------------------------------

def test_first_packet_must_be_connect() -> None:
    conn = ServerConnection()
    exc = fail(conn, bytes.fromhex("c0 00"))
    assert "MQTT-3.1.0-1" in str(exc)
    assert conn.goodbye() == b""  # not even a CONNECT: just close


@pytest.mark.parametrize("version", [4, 5])
def test_second_connect_is_a_protocol_error(version: int) -> None:
    conn = connected(version)
    exc = fail(conn, Connect(protocol_level=version, client_id="c"), version)
    assert type(exc) is ProtocolError and "MQTT-3.1.0-2" in str(exc)
    if version == 5:
        [goodbye] = decode(conn.goodbye())
        assert goodbye == Disconnect(0x82, Properties(reason_string=str(exc)))
    else:
        assert conn.goodbye() == b""


def test_pipelined_packets_after_connect_are_accepted_but_answers_wait_for_connack() -> None:
    conn = ServerConnection()
    data = encode(Connect(protocol_level=4, client_id="c"), 4) + encode(
        Subscribe(1, (Subscription("a/#", 1),)), 4)
    connect, subscribe = conn.receive_data(data)
    assert isinstance(subscribe, Subscribe)
    with pytest.raises(UsageError):
        conn.send(Suback(1, (1,)))
    assert conn.send(Connack(True)) == bytes.fromhex("20 02 01 00")
    assert conn.send(Suback(1, (1,))) == bytes.fromhex("90 03 00 01 01")
    assert conn.client_id == "c" and conn.version == 4


def test_server_packets_from_a_client_are_refused() -> None:
    conn = connected()
    exc = fail(conn, Pingresp())
    assert "client does not send Pingresp" in str(exc)


def test_nothing_can_be_sent_before_connect_and_connack_only_once() -> None:
    conn = ServerConnection()
    with pytest.raises(UsageError):
        conn.send(Connack())
    conn = connected()
    with pytest.raises(UsageError):
        conn.send(Connack())
    with pytest.raises(UsageError):
        conn.send(Connect())


def test_refusing_connack_closes() -> None:
    conn = ServerConnection()
    conn.receive_data(encode(Connect(protocol_level=4, client_id="c"), 4))
    assert conn.send(Connack(False, 0x86)) == bytes.fromhex("20 02 00 04")
    assert conn.state is ConnectionState.CLOSED
    with pytest.raises(UsageError):
        conn.send(Pingresp())


def test_connack_announces_the_limits() -> None:
    limits = ConnectionLimits(max_packet_size=1000, receive_maximum=10, topic_alias_maximum=4,
                              maximum_qos=1, retain_available=False)
    conn = ServerConnection(limits)
    conn.receive_data(encode(Connect(protocol_level=5, client_id="c"), 5))
    [connack] = decode(conn.send(Connack(False, 0, Properties(assigned_client_identifier="x"))))
    assert connack == Connack(False, 0, Properties(
        assigned_client_identifier="x", receive_maximum=10, topic_alias_maximum=4,
        maximum_packet_size=1000, maximum_qos=1, retain_available=0))


def test_keep_alive_and_server_keep_alive() -> None:
    conn = connected(keep_alive=10)
    assert conn.keep_alive_timeout == 15.0  # one and a half times [MQTT-3.1.2-22]
    conn = ServerConnection()
    conn.receive_data(encode(Connect(protocol_level=5, client_id="c", keep_alive=0), 5))
    assert conn.keep_alive_timeout is None
    conn.send(Connack(False, 0, Properties(server_keep_alive=30)))
    assert conn.keep_alive == 30 and conn.keep_alive_timeout == 45.0


def test_client_disconnect_closes_and_later_bytes_are_ignored() -> None:
    conn = connected()
    data = encode(Disconnect(), 5) + encode(Pingreq(), 5)
    assert conn.receive_data(data) == [Disconnect()]
    assert conn.state is ConnectionState.CLOSED
    assert conn.receive_data(b"\xff\xff") == []


def test_disconnect_may_not_start_a_session_expiry() -> None:
    conn = connected()
    exc = fail(conn, Disconnect(0, Properties(session_expiry_interval=60)))
    assert "MQTT-3.14.2-2" in str(exc)


def test_server_disconnect_is_nothing_in_311() -> None:
    conn = connected(4)
    assert conn.send(Disconnect(0x8B)) == b""
    assert conn.state is ConnectionState.CLOSED
    conn = connected(5)
    assert conn.send(Disconnect(0x8B)) == bytes.fromhex("e0 01 8b")


def test_the_error_state_refuses_work_and_keeps_earlier_packets() -> None:
    conn = connected(4)
    with pytest.raises(MalformedPacket) as info:
        conn.receive_data(encode(Pingreq(), 4) + bytes.fromhex("36 00"))
    assert info.value.packets == [Pingreq()]  # type: ignore[attr-defined]
    with pytest.raises(MalformedPacket) as again:
        conn.receive_data(b"")
    assert again.value is info.value
    with pytest.raises(UsageError):
        conn.send(Pingresp())
    with pytest.raises(UsageError):
        connected().goodbye()  # no error, no goodbye


# -- goodbyes for CONNECT problems ------------------------------------------------------

@pytest.mark.parametrize(("hex_text", "goodbye"), [
    # MQTT 3.1 (level 3) and an unknown name get the 3.1.1 CONNACK "unacceptable version"
    ("10 0f 00 06 4d 51 49 73 64 70 03 02 00 00 00 01 63", "20 02 00 01"),
    ("10 0d 00 04 4d 51 54 58 04 02 00 00 00 01 63", "20 02 00 01"),
    # a future level too: its encoding is unknown, so the 3.1.1 CONNACK every client
    # parses (the broker's interop tests read it with a 3.1.1 decoder)
    ("10 0d 00 04 4d 51 54 54 06 02 00 00 00 01 63", "20 02 00 01"),
    # a malformed v5 CONNECT: CONNACK 0x81; a malformed 3.1.1 one: just close
    ("10 0e 00 04 4d 51 54 54 05 03 00 00 00 00 01 63", None),
    ("10 0d 00 04 4d 51 54 54 04 03 00 00 00 01 63", ""),
])
def test_goodbye_for_bad_connects(hex_text: str, goodbye: str | None) -> None:
    conn = ServerConnection()
    fail(conn, bytes.fromhex(hex_text))
    if goodbye is not None:
        assert conn.goodbye().hex(" ") == goodbye
    else:
        [connack] = decode(conn.goodbye())
        assert isinstance(connack, Connack)
        assert connack.reason_code == conn.error_reason_hint
        assert connack.reason_code in (0x84, 0x81)
        assert connack.properties.reason_string


def test_empty_client_id_needs_clean_session_in_311() -> None:
    conn = ServerConnection()
    exc = fail(conn, Connect(protocol_level=4, client_id="", clean_start=False), 4)
    assert isinstance(exc, ConnectRefused) and exc.mqtt_reason == 0x85
    assert conn.goodbye() == bytes.fromhex("20 02 00 02")  # identifier rejected


def test_invalid_will_topic() -> None:
    conn = ServerConnection()
    exc = fail(conn, Connect(protocol_level=5, client_id="c", will=Will("a/#")))
    assert isinstance(exc, TopicError)
    [connack] = decode(conn.goodbye())
    assert isinstance(connack, Connack) and connack.reason_code == 0x90
    conn = ServerConnection()
    fail(conn, Connect(protocol_level=4, client_id="c", will=Will("a/+")), 4)
    assert conn.goodbye() == b""  # 3.1.1 has no return code for it


# -- inbound PUBLISH ----------------------------------------------------------------------

def test_topic_aliases_are_resolved() -> None:
    conn = connected(limits=ConnectionLimits(topic_alias_maximum=5))
    first, second, third = conn.receive_data(
        encode(Publish("a/b", b"1", properties=Properties(topic_alias=1,
                                                          content_type="x")), 5)
        + encode(Publish("", b"2", properties=Properties(topic_alias=1)), 5)
        + encode(Publish("c", b"3", properties=Properties(topic_alias=1)), 5))
    assert first == Publish("a/b", b"1", properties=Properties(content_type="x"))
    assert second == Publish("a/b", b"2")
    assert third == Publish("c", b"3")
    assert conn.receive_data(encode(Publish("", b"4", properties=Properties(topic_alias=1)),
                                    5)) == [Publish("c", b"4")]


@pytest.mark.parametrize(("maximum", "publish", "kind", "reason"), [
    (5, Publish("a", properties=Properties(topic_alias=0)), TopicAliasInvalid, 0x94),
    (5, Publish("a", properties=Properties(topic_alias=6)), TopicAliasInvalid, 0x94),
    (0, Publish("a", properties=Properties(topic_alias=1)), TopicAliasInvalid, 0x94),
    (5, Publish("", properties=Properties(topic_alias=2)), ProtocolError, 0x82),
    (5, Publish(""), ProtocolError, 0x82),
])
def test_bad_topic_aliases(maximum: int, publish: Publish, kind: type[PeerError],
                           reason: int) -> None:
    conn = connected(limits=ConnectionLimits(topic_alias_maximum=maximum))
    exc = fail(conn, publish)
    assert type(exc) is kind and exc.mqtt_reason == reason
    [goodbye] = decode(conn.goodbye())
    assert isinstance(goodbye, Disconnect) and goodbye.reason_code == reason


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("topic", ["a/+", "#", "", "x" * 300])
def test_bad_publish_topics(version: int, topic: str) -> None:
    conn = connected(version, ConnectionLimits(max_topic_bytes=256))
    exc = fail(conn, Publish(topic), version)
    assert exc.mqtt_reason in (0x90, 0x82)


def test_receive_maximum_is_enforced() -> None:
    conn = connected(limits=ConnectionLimits(receive_maximum=2))
    conn.receive_data(encode(Publish("t", b"", 1, packet_id=1), 5)
                      + encode(Publish("t", b"", 2, packet_id=2), 5)
                      + encode(Publish("t", b"", 2, dup=True, packet_id=2), 5))  # resent
    assert conn.inbound_unacked == 2
    conn.send(Puback(1))
    conn.receive_data(encode(Publish("t", b"", 1, packet_id=3), 5))
    conn.send(Pubrec(2))  # QoS 2 still counts until PUBCOMP
    conn.receive_data(encode(Pubrel(2), 5))
    assert conn.inbound_unacked == 2
    conn.send(Pubcomp(2))
    conn.send(Puback(3))
    assert conn.inbound_unacked == 0
    conn.receive_data(encode(Publish("t", b"", 2, packet_id=4), 5))
    conn.send(Pubrec(4, 0x80))  # a failed PUBREC ends the exchange
    assert conn.inbound_unacked == 0
    conn.receive_data(encode(Publish("t", b"", 1, packet_id=5), 5)
                      + encode(Publish("t", b"", 1, packet_id=6), 5))
    exc = fail(conn, Publish("t", b"", 1, packet_id=7))
    assert isinstance(exc, ReceiveMaximumExceeded) and exc.mqtt_reason == 0x93


def test_qos_and_retain_limits() -> None:
    conn = connected(limits=ConnectionLimits(maximum_qos=1))
    conn.receive_data(encode(Publish("t", b"", 1, packet_id=1), 5))
    assert fail(conn, Publish("t", b"", 2, packet_id=2)).mqtt_reason == 0x9B
    conn = connected(4, ConnectionLimits(retain_available=False))
    assert fail(conn, Publish("t", b"", retain=True), 4).mqtt_reason == 0x9A
    assert conn.goodbye() == b""


def test_packet_too_large() -> None:
    conn = connected(limits=ConnectionLimits(max_packet_size=50))
    exc = fail(conn, Publish("t", b"x" * 60))
    assert isinstance(exc, PacketTooLarge)
    assert decode(conn.goodbye())[0] == Disconnect(0x95, Properties(reason_string=str(exc)))


# -- outbound ---------------------------------------------------------------------------

def test_packet_ids_and_the_client_receive_maximum() -> None:
    conn = connected(props=Properties(receive_maximum=3))
    ids = [conn.allocate_packet_id() for _ in range(3)]
    assert ids == [1, 2, 3]
    assert not conn.can_send_qos()
    with pytest.raises(UsageError):
        conn.allocate_packet_id()
    conn.receive_data(encode(Puback(2), 5))
    assert conn.can_send_qos() and conn.allocate_packet_id() == 4
    conn.receive_data(encode(Pubrec(1), 5))  # QoS 2 stays in flight until PUBCOMP
    assert not conn.can_send_qos()
    conn.receive_data(encode(Pubcomp(1), 5))
    conn.receive_data(encode(Pubrec(3, 0x80), 5))  # a failed PUBREC ends it
    assert conn.outbound_inflight == 1
    conn.release_packet_id(4)
    assert conn.outbound_inflight == 0


def test_packet_ids_wrap_and_skip_ids_in_use() -> None:
    conn = connected()
    conn.claim_packet_id(65535)
    conn.claim_packet_id(1)
    conn._next_id = 65534
    assert [conn.allocate_packet_id() for _ in range(2)] == [65534, 2]


def test_sending_publishes() -> None:
    conn = connected(4)
    pid = conn.allocate_packet_id()
    data = conn.send(Publish("a", b"x", 1, packet_id=pid))
    assert decode(data, 4) == [Publish("a", b"x", 1, packet_id=pid)]
    with pytest.raises(UsageError):
        conn.send(Publish("a", b"x", 1))  # no packet id


def test_oversize_publishes_are_dropped_for_the_client() -> None:
    conn = connected(props=Properties(maximum_packet_size=20))
    pid = conn.allocate_packet_id()
    assert conn.send(Publish("t", b"x" * 30, 1, packet_id=pid)) == b""
    assert conn.dropped_oversize == 1 and conn.outbound_inflight == 0
    assert conn.send(Publish("t", b"x")) != b""


def test_outbound_topic_aliases() -> None:
    conn = connected(limits=ConnectionLimits(outbound_topic_aliases=True),
                     props=Properties(topic_alias_maximum=2))
    sent = [conn.send(Publish(t, b"")) for t in ("a", "a", "b", "c", "b")]
    got = [decode(data)[0] for data in sent]
    assert got == [
        Publish("a", properties=Properties(topic_alias=1)),
        Publish("", properties=Properties(topic_alias=1)),
        Publish("b", properties=Properties(topic_alias=2)),
        Publish("c"),  # the table is full: send the topic in full
        Publish("", properties=Properties(topic_alias=2)),
    ]
    # a client reading these with its own InboundAliases gets the topics back
    client = connected(limits=ConnectionLimits(topic_alias_maximum=2))
    topics = [p.topic for p in client.receive_data(b"".join(sent)) if isinstance(p, Publish)]
    assert topics == ["a", "a", "b", "c", "b"]


def test_no_outbound_aliases_unless_enabled() -> None:
    conn = connected(props=Properties(topic_alias_maximum=2))
    assert decode(conn.send(Publish("a")))[0] == Publish("a")


# -- what a broker needs: held CONNECT, its own faults, shared encodings -----------------

def test_hold_after_connect_keeps_later_bytes_undecoded_until_connack() -> None:
    conn = ServerConnection(hold_after_connect=True)
    data = encode(Connect(protocol_level=5, client_id="c"), 5) + encode(Pingreq(), 5)
    assert conn.receive_data(data[:7]) == []
    [connect] = conn.receive_data(data[7:])
    assert isinstance(connect, Connect)
    assert conn.next_packet() is None  # PINGREQ waits [MQTT-3.1.4-5]
    conn.feed(bytes.fromhex("ff ff"))  # even garbage waits: a refusal never reads it
    assert conn.next_packet() is None and conn.state is ConnectionState.CONNECTING
    conn.send(Connack())
    assert conn.next_packet() == Pingreq()
    with pytest.raises(MalformedPacket):
        conn.next_packet()


def test_a_held_connect_refused_never_reads_what_follows() -> None:
    conn = ServerConnection(hold_after_connect=True)
    conn.receive_data(encode(Connect(protocol_level=4, client_id="c"), 4) + b"\xff\xff")
    assert conn.send(Connack(False, 0x87)) == bytes.fromhex("20 02 00 05")
    assert conn.closed and conn.next_packet() is None


@pytest.mark.parametrize(("version", "goodbye"), [
    (5, "20 1c 00 85 19 1f 00 16 63 6c 69 65 6e 74 20 69 64 20 63 6f 6e 74 61 69 6e 73 20 "
        "61 20 2b"),
    (4, "20 02 00 02"),
])
def test_fail_records_the_callers_own_refusal(version: int, goodbye: str) -> None:
    conn = ServerConnection(hold_after_connect=True)
    conn.receive_data(encode(Connect(protocol_level=version, client_id="a+"), version))
    exc = ConnectRefused("client id contains a +", mqtt_reason=0x85)
    conn.fail(exc)
    assert conn.state is ConnectionState.ERROR and conn.error is exc
    conn.fail(ProtocolError("later"))  # the first fault stays the answer
    assert conn.error_reason_hint == 0x85 and not conn.connack_sent
    assert conn.goodbye().hex(" ") == goodbye
    with pytest.raises(ConnectRefused):
        conn.feed(b"")


def test_close_refuses_more_work_but_keeps_an_error() -> None:
    conn = connected()
    conn.close()
    assert conn.closed and conn.receive_data(encode(Pingreq(), 5)) == []
    with pytest.raises(UsageError):
        conn.send(Pingresp())
    broken = connected()
    fail(broken, bytes.fromhex("36 00"))
    broken.close()
    assert broken.state is ConnectionState.ERROR


def test_send_publish_bytes_passes_shared_encodings_through() -> None:
    conn = connected(props=Properties(maximum_packet_size=20, receive_maximum=2))
    small, big = encode(Publish("t", b"x"), 5), encode(Publish("t", b"x" * 30), 5)
    assert conn.send_publish_bytes(small) is small  # the very same bytes object
    assert conn.send_publish_bytes(big) == b"" and conn.dropped_oversize == 1
    pid = conn.allocate_packet_id()
    assert conn.send_publish_bytes(encode(Publish("t", b"y" * 30, 1, packet_id=pid), 5),
                                   pid) == b""
    assert conn.outbound_inflight == 0  # dropped as if delivered: the id is free again


def test_resumed_ids_are_claimed_and_skipped() -> None:
    conn = connected()
    for pid in (1, 2, 4):  # a session's unacknowledged ids from an earlier connection
        conn.claim_packet_id(pid)
    assert [conn.allocate_packet_id() for _ in range(2)] == [3, 5]
    conn.receive_data(encode(Pubcomp(2), 5))
    assert conn.outbound_inflight == 4


def test_our_in_flight_maximum_caps_the_clients() -> None:
    conn = connected(limits=ConnectionLimits(max_inflight=2),
                     props=Properties(receive_maximum=10))
    assert conn.send_quota == 2
    conn.allocate_packet_id(), conn.allocate_packet_id()
    assert not conn.can_send_qos()
    assert connected(limits=ConnectionLimits(max_inflight=20),
                     props=Properties(receive_maximum=3)).send_quota == 3


def test_receive_maximum_is_a_v5_rule() -> None:
    conn = connected(4, ConnectionLimits(receive_maximum=1))
    got = conn.receive_data(encode(Publish("t", b"", 1, packet_id=1), 4)
                            + encode(Publish("t", b"", 1, packet_id=2), 4))
    assert len(got) == 2  # a 3.1.1 client was never told a Receive Maximum


def test_payload_limit_and_payload_format() -> None:
    conn = connected(limits=ConnectionLimits(max_payload_size=4))
    conn.receive_data(encode(Publish("t", b"1234"), 5))
    exc = fail(conn, Publish("t", b"12345"))
    assert isinstance(exc, PacketTooLarge) and exc.mqtt_reason == 0x95
    conn = connected()
    utf8 = Properties(payload_format_indicator=1)
    conn.receive_data(encode(Publish("t", "é".encode(), properties=utf8), 5))
    assert fail(conn, Publish("t", b"\xff", properties=utf8)).mqtt_reason == 0x99


@pytest.mark.parametrize(("limits", "will", "reason"), [
    (ConnectionLimits(maximum_qos=1), Will("w", b"", qos=2), 0x9B),
    (ConnectionLimits(retain_available=False), Will("w", b"", retain=True), 0x9A),
    (ConnectionLimits(max_payload_size=2), Will("w", b"abc"), 0x95),
])
def test_the_will_obeys_the_publish_limits(limits: ConnectionLimits, will: Will,
                                           reason: int) -> None:
    conn = ServerConnection(limits)
    exc = fail(conn, Connect(protocol_level=5, client_id="c", will=will))
    assert exc.mqtt_reason == reason and "will" in str(exc)
    [connack] = decode(conn.goodbye())
    assert isinstance(connack, Connack) and connack.reason_code == reason


def test_a_server_keep_alive_applies_in_311_too_though_only_v5_hears_it() -> None:
    conn = ServerConnection(ConnectionLimits(keep_alive_grace=2.0))
    conn.receive_data(encode(Connect(protocol_level=4, client_id="c", keep_alive=0), 4))
    assert conn.send(Connack(False, 0, Properties(server_keep_alive=1200))) == bytes.fromhex(
        "20 02 00 00")  # 3.1.1 has no properties: the client is not told
    assert conn.keep_alive == 1200 and conn.keep_alive_timeout == 2400.0
