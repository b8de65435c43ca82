"""Reason codes, their 3.1.1 mappings, and the property table's coverage."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.errors import PeerError
from hubbub.mqtt.codec import Decoder
from hubbub.mqtt.connection import ServerConnection
from hubbub.mqtt.packets import Connack, Properties
from hubbub.mqtt.properties import SPECS
from hubbub.mqtt.reason_codes import (
    ALLOWED_REASON_CODES,
    ReasonCode,
    connack_code_311,
    connack_code_311_exact,
    connack_code_from_311,
    suback_code_311,
    suback_code_from_311,
)


def test_every_v5_reason_code_is_there() -> None:
    assert len(ReasonCode) == 43  # MQTT 5.0 Table 2-6, counting shared values once
    assert ReasonCode(0xA2) is ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED
    assert ReasonCode.PACKET_TOO_LARGE == 0x95
    assert not ReasonCode.NO_MATCHING_SUBSCRIBERS.is_error
    assert ReasonCode.UNSPECIFIED_ERROR.is_error
    for codes in ALLOWED_REASON_CODES.values():
        assert all(ReasonCode(c) == c for c in codes)


@pytest.mark.parametrize(("reason", "code"), [
    (0x00, 0), (0x84, 1), (0x85, 2), (0x88, 3), (0x89, 3), (0x86, 4), (0x87, 5), (0x8A, 5),
    (0x97, 3),  # no counterpart: "server unavailable"
])
def test_connack_to_311(reason: int, code: int) -> None:
    assert connack_code_311(reason) == code


def test_exact_mapping_and_back() -> None:
    assert connack_code_311_exact(0x97) is None
    assert connack_code_311_exact(0x85) == 2
    for code in range(6):
        assert connack_code_311(connack_code_from_311(code)) == code
    with pytest.raises(ValueError):
        connack_code_from_311(6)


def test_suback_to_311() -> None:
    assert [suback_code_311(c) for c in (0, 1, 2, 0x80, 0x87, 0xA2)] == [0, 1, 2, 0x80, 0x80,
                                                                         0x80]
    assert suback_code_from_311(0x80) == ReasonCode.UNSPECIFIED_ERROR
    with pytest.raises(ValueError):
        suback_code_from_311(3)


def test_the_property_table_covers_every_properties_field() -> None:
    fields = {f.name for f in dataclasses.fields(Properties)}
    assert fields == {s.name for s in SPECS}
    assert len({s.ident for s in SPECS}) == len(SPECS) == 27


@settings(max_examples=500, deadline=None)
@given(garbage=st.binary(max_size=200), prefix=st.sampled_from([b"", b"\x10", b"\x10\x20"]))
def test_garbage_as_first_bytes_gets_a_connack_or_nothing(garbage: bytes, prefix: bytes
                                                          ) -> None:
    conn = ServerConnection()
    try:
        conn.receive_data(prefix + garbage)
    except PeerError:
        goodbye = conn.goodbye()
        if goodbye:
            version = 5 if len(goodbye) > 4 else 4
            decoder = Decoder(version=version)
            decoder.feed(goodbye)
            connack = decoder.next_packet()
            assert isinstance(connack, Connack) and connack.reason_code >= 0x80
