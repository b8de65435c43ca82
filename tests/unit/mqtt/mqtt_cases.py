"""Hand-written encodings from the MQTT 3.1.1 and 5.0 figures, shared by the codec tests.

Each case is (packet, protocol level, expected bytes as hex). The bytes were written by
hand from the spec's field layouts, not produced by the encoder.
"""

from __future__ import annotations

from hubbub.mqtt.packets import (
    Auth,
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
    Unsuback,
    Unsubscribe,
    Will,
)

MQTT = "00 04 4d 51 54 54"  # protocol name "MQTT" [MQTT 5.0 §3.1.2.1]

CASES: list[tuple[str, Packet, int, str]] = [
    # -- CONNECT ---------------------------------------------------------------------
    ("connect-311-minimal", Connect(protocol_level=4, keep_alive=60, client_id="c1"), 4,
     f"10 0e {MQTT} 04 02 00 3c 00 02 63 31"),
    ("connect-311-full",
     Connect(protocol_level=4, clean_start=False, keep_alive=10, client_id="id",
             username="u", password=b"p", will=Will("w/t", b"bye", 1, True)), 4,
     f"10 1e {MQTT} 04 ec 00 0a 00 02 69 64 00 03 77 2f 74 00 03 62 79 65 00 01 75"
     " 00 01 70"),
    ("connect-5-properties",
     Connect(protocol_level=5, keep_alive=60, client_id="c1",
             properties=Properties(session_expiry_interval=3600, receive_maximum=20)), 5,
     f"10 17 {MQTT} 05 02 00 3c 08 11 00 00 0e 10 21 00 14 00 02 63 31"),
    ("connect-5-will-properties",
     Connect(protocol_level=5, client_id="",
             will=Will("w", b"x", properties=Properties(will_delay_interval=5))), 5,
     f"10 19 {MQTT} 05 06 00 00 00 00 00 05 18 00 00 00 05 00 01 77 00 01 78"),
    ("connect-5-password-only", Connect(protocol_level=5, client_id="c", password=b"pw"), 5,
     f"10 12 {MQTT} 05 42 00 00 00 00 01 63 00 02 70 77"),
    # -- CONNACK ---------------------------------------------------------------------
    ("connack-311-session-present", Connack(True, 0), 4, "20 02 01 00"),
    ("connack-311-not-authorized", Connack(False, 0x87), 4, "20 02 00 05"),
    ("connack-311-bad-version", Connack(False, 0x84), 4, "20 02 00 01"),
    ("connack-5", Connack(False, 0), 5, "20 03 00 00 00"),
    ("connack-5-properties",
     Connack(False, 0, Properties(assigned_client_identifier="ab", topic_alias_maximum=10)),
     5, "20 0b 00 00 08 12 00 02 61 62 22 00 0a"),
    ("connack-5-refused", Connack(False, 0x86), 5, "20 03 00 86 00"),
    # -- PUBLISH ---------------------------------------------------------------------
    ("publish-311-qos0", Publish("a/b", b"hi"), 4, "30 07 00 03 61 2f 62 68 69"),
    ("publish-311-qos1-retain", Publish("a/b", b"hi", 1, True, False, 10), 4,
     "33 09 00 03 61 2f 62 00 0a 68 69"),
    ("publish-311-qos2-dup", Publish("a/b", b"", 2, False, True, 0xFFFF), 4,
     "3c 07 00 03 61 2f 62 ff ff"),
    ("publish-311-two-byte-length", Publish("t", b"x" * 200), 4,
     "30 cb 01 00 01 74" + " 78" * 200),
    ("publish-5-qos0", Publish("a/b", b"hi"), 5, "30 08 00 03 61 2f 62 00 68 69"),
    ("publish-5-properties",
     Publish("a/b", b"hi", 1, packet_id=1,
             properties=Properties(message_expiry_interval=60, topic_alias=1,
                                   user_properties=(("k", "v"),))), 5,
     "32 19 00 03 61 2f 62 00 01 0f 02 00 00 00 3c 23 00 01 26 00 01 6b 00 01 76 68 69"),
    ("publish-5-utf8", Publish("é/€", b""), 5, "30 09 00 06 c3 a9 2f e2 82 ac 00"),
    # -- acknowledgements ------------------------------------------------------------
    ("puback-311", Puback(10), 4, "40 02 00 0a"),
    ("pubrec-311", Pubrec(10), 4, "50 02 00 0a"),
    ("pubrel-311", Pubrel(10), 4, "62 02 00 0a"),
    ("pubcomp-311", Pubcomp(10), 4, "70 02 00 0a"),
    ("puback-5-short", Puback(10), 5, "40 02 00 0a"),
    ("puback-5-reason", Puback(10, 0x10), 5, "40 03 00 0a 10"),
    ("puback-5-reason-string", Puback(10, 0x80, Properties(reason_string="no")), 5,
     "40 09 00 0a 80 05 1f 00 02 6e 6f"),
    ("pubrec-5-reason", Pubrec(7, 0x91), 5, "50 03 00 07 91"),
    ("pubrel-5-not-found", Pubrel(10, 0x92), 5, "62 03 00 0a 92"),
    ("pubcomp-5", Pubcomp(300), 5, "70 02 01 2c"),
    # -- SUBSCRIBE / SUBACK ----------------------------------------------------------
    ("subscribe-311",
     Subscribe(1, (Subscription("a/+", 1), Subscription("#", 0))), 4,
     "82 0c 00 01 00 03 61 2f 2b 01 00 01 23 00"),
    ("subscribe-5-options",
     Subscribe(1, (Subscription("a/+", 2, True, True, 2),),
               Properties(subscription_identifiers=(5,))), 5,
     "82 0b 00 01 02 0b 05 00 03 61 2f 2b 2e"),
    ("suback-311", Suback(1, (1, 0x80)), 4, "90 04 00 01 01 80"),
    ("suback-5", Suback(1, (1, 0x87)), 5, "90 05 00 01 00 01 87"),
    # -- UNSUBSCRIBE / UNSUBACK ------------------------------------------------------
    ("unsubscribe-311", Unsubscribe(2, ("a/b",)), 4, "a2 07 00 02 00 03 61 2f 62"),
    ("unsubscribe-5", Unsubscribe(2, ("a/b",)), 5, "a2 08 00 02 00 00 03 61 2f 62"),
    ("unsuback-311", Unsuback(2), 4, "b0 02 00 02"),
    ("unsuback-5", Unsuback(2, (0, 0x11)), 5, "b0 05 00 02 00 00 11"),
    # -- the rest --------------------------------------------------------------------
    ("pingreq-311", Pingreq(), 4, "c0 00"),
    ("pingresp-311", Pingresp(), 4, "d0 00"),
    ("pingreq-5", Pingreq(), 5, "c0 00"),
    ("pingresp-5", Pingresp(), 5, "d0 00"),
    ("disconnect-311", Disconnect(), 4, "e0 00"),
    ("disconnect-5-normal", Disconnect(), 5, "e0 00"),
    ("disconnect-5-reason", Disconnect(0x8E), 5, "e0 01 8e"),
    ("disconnect-5-reason-string", Disconnect(0x8B, Properties(reason_string="bye")), 5,
     "e0 08 8b 06 1f 00 03 62 79 65"),
    ("auth-5", Auth(0x18, Properties(authentication_method="X")), 5,
     "f0 06 18 04 15 00 01 58"),
    ("auth-5-success", Auth(), 5, "f0 00"),
]


def case_bytes(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)
