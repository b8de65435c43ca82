"""Hypothesis strategies for every MQTT packet type, valid for a given protocol level."""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import strategies as st

from hubbub.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    PacketType,
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
    Unsuback,
    Unsubscribe,
    Will,
)
from hubbub.mqtt.properties import BINARY, BYTE, PAIR, SPECS, TEXT, U16, U32, VARINT, WILL
from hubbub.mqtt.reason_codes import ALLOWED_REASON_CODES, ReasonCode

# MQTT text: no controls, surrogates or non-characters [MQTT 5.0 §1.5.4]
text = st.text(st.characters(exclude_categories=("Cs", "Cc", "Cn")), max_size=12)
binary = st.binary(max_size=24)
packet_ids = st.integers(1, 0xFFFF)

_KIND: dict[int, st.SearchStrategy[Any]] = {
    BYTE: st.integers(0, 1),
    U16: st.integers(1, 0xFFFF),
    U32: st.integers(1, 0xFFFF_FFFF),
    TEXT: text,
    BINARY: binary,
}


@cache
def properties(where: int) -> st.SearchStrategy[Properties]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for spec in SPECS:
        if where not in spec.allowed:
            continue
        if spec.kind == PAIR:
            fields[spec.name] = st.lists(st.tuples(text, text), max_size=3).map(tuple)
        elif spec.kind == VARINT:
            most = 1 if where == PacketType.SUBSCRIBE else 3
            fields[spec.name] = st.lists(st.integers(1, 268_435_455), max_size=most).map(tuple)
        else:
            fields[spec.name] = st.none() | _KIND[spec.kind]
    return st.builds(Properties, **fields)


def _props(version: int, where: int) -> st.SearchStrategy[Properties]:
    return properties(where) if version == 5 else st.just(Properties())


def _reason(version: int, ptype: int) -> st.SearchStrategy[int]:
    if version == 4:
        return st.just(ReasonCode.SUCCESS)
    return st.sampled_from(sorted(ALLOWED_REASON_CODES[ptype])).map(ReasonCode)


def connects(version: int) -> st.SearchStrategy[Connect]:
    wills = st.builds(Will, text, binary, st.integers(0, 2), st.booleans(),
                      _props(version, WILL))

    def build(draw: Any) -> Connect:
        username = draw(st.none() | text)
        password = draw(st.none() | binary)
        if version == 4 and username is None:
            password = None  # [MQTT-3.1.2-22]
        return Connect("MQTT", version, draw(st.booleans()), draw(st.integers(0, 0xFFFF)),
                       draw(text), username, password, draw(st.none() | wills),
                       draw(_props(version, PacketType.CONNECT)))

    return st.composite(lambda draw: build(draw))()


def publishes(version: int) -> st.SearchStrategy[Publish]:
    @st.composite
    def build(draw: Any) -> Publish:
        qos = draw(st.integers(0, 2))
        return Publish(draw(text), draw(st.binary(max_size=300)), qos, draw(st.booleans()),
                       draw(st.booleans()) if qos else False,
                       draw(packet_ids) if qos else None,
                       draw(_props(version, PacketType.PUBLISH)))
    return build()


def subscriptions(version: int) -> st.SearchStrategy[Subscription]:
    filters = text.filter(lambda f: not f.startswith("$share/"))
    if version == 4:
        return st.builds(Subscription, filters, st.integers(0, 2))
    return st.builds(Subscription, filters, st.integers(0, 2), st.booleans(), st.booleans(),
                     st.integers(0, 2))


@cache
def packets(version: int) -> st.SearchStrategy[Packet]:
    ack_types = ((Puback, PacketType.PUBACK), (Pubrec, PacketType.PUBREC),
                 (Pubrel, PacketType.PUBREL), (Pubcomp, PacketType.PUBCOMP))
    acks = [st.builds(cls, packet_ids, _reason(version, pt), _props(version, pt))
            for cls, pt in ack_types]
    if version == 4:
        connack_codes = st.sampled_from([0x00, 0x84, 0x85, 0x88, 0x86, 0x87]).map(ReasonCode)
        suback_codes = st.sampled_from([0, 1, 2, 0x80]).map(ReasonCode)
        unsubacks = st.builds(Unsuback, packet_ids)
    else:
        connack_codes = _reason(5, PacketType.CONNACK)
        suback_codes = _reason(5, PacketType.SUBACK)
        unsubacks = st.builds(
            Unsuback, packet_ids,
            st.lists(_reason(5, PacketType.UNSUBACK), min_size=1, max_size=4).map(tuple),
            properties(PacketType.UNSUBACK))
    choices: list[st.SearchStrategy[Any]] = [
        connects(version),
        st.builds(Connack, st.booleans(), connack_codes, _props(version, PacketType.CONNACK)),
        publishes(version),
        *acks,
        st.builds(Subscribe, packet_ids,
                  st.lists(subscriptions(version), min_size=1, max_size=4).map(tuple),
                  _props(version, PacketType.SUBSCRIBE)),
        st.builds(Suback, packet_ids, st.lists(suback_codes, min_size=1, max_size=4).map(tuple),
                  _props(version, PacketType.SUBACK)),
        st.builds(Unsubscribe, packet_ids, st.lists(text, min_size=1, max_size=4).map(tuple),
                  _props(version, PacketType.UNSUBSCRIBE)),
        unsubacks,
        st.just(Pingreq()),
        st.just(Pingresp()),
        st.builds(Disconnect, _reason(version, PacketType.DISCONNECT),
                  _props(version, PacketType.DISCONNECT)),
    ]
    if version == 5:
        choices.append(st.builds(Auth, _reason(5, PacketType.AUTH),
                                 properties(PacketType.AUTH)))
    return st.one_of(choices)
