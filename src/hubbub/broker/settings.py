"""The broker's settings: one frozen dataclass, IoT Core's limits as named defaults.

Each default says why it has that value. Reason codes used when a limit is broken are
listed in docs/broker.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BrokerSettings:
    """Everything the broker enforces or announces. Defaults are IoT Core's where it has one."""

    # IoT Core: "Message size: 128 KB" (payload). Larger PUBLISH -> DISCONNECT 0x95.
    max_payload_bytes: int = 128 * 1024
    # Whole packet bound announced as MQTT 5 Maximum Packet Size: the payload limit plus
    # room for the topic (256 B) and properties; the decoder refuses anything larger.
    max_packet_bytes: int = 128 * 1024 + 16 * 1024
    # IoT Core: topic at most 256 bytes (UTF-8).
    max_topic_bytes: int = 256
    # IoT Core: at most 7 forward slashes, so 8 levels.
    max_topic_levels: int = 8
    # IoT Core: client id at most 128 bytes.
    max_client_id_bytes: int = 128
    # IoT Core: 100 publish requests per second per connection (token bucket, burst = rate);
    # 0 turns the limit off (benchmarks, trusted backends).
    publish_rate: float = 100.0
    publish_burst: float = 100.0
    # IoT Core: 50 subscriptions per connection (counted per session).
    max_subscriptions: int = 50
    # IoT Core clamps keep-alive to 30..1200 s; 0 ("no keep-alive") becomes 1200 as in IoT Core.
    keepalive_min: int = 30
    keepalive_max: int = 1200
    # [MQTT-3.1.2-24]: disconnect after one and a half keep-alive periods of silence.
    keepalive_grace: float = 1.5
    # IoT Core: persistent sessions expire after one hour (also the 3.1.1 clean_session=0 value).
    max_session_expiry: int = 3600
    # 2 = full MQTT; 1 caps like IoT Core (announced as Maximum QoS in MQTT 5 CONNACK).
    max_qos: int = 2
    # IoT Core supports retained messages.
    retain_available: bool = True
    # IoT Core: 100 unacknowledged inbound QoS 1 publishes; announced as Receive Maximum.
    receive_maximum: int = 100
    # Outbound QoS>0 messages in flight per connection (further capped by the client's
    # Receive Maximum); beyond it messages wait in the session queue.
    max_inflight: int = 100
    # Session queue bound (QoS 1/2 waiting for the inflight window or an offline client).
    # Online and full: DISCONNECT 0x97 Quota exceeded. Offline and full: newest dropped, counted.
    max_queued_messages: int = 1000
    # Transport write buffer above which QoS 0 messages are dropped (and counted): a slow
    # reader never makes the broker buffer without bound, nor slows the others.
    write_buffer_high: int = 1024 * 1024
    # IoT Core: a second connection with the same client id disconnects the first;
    # False refuses the second instead (CONNACK 0x85 / 3.1.1 return code 2).
    allow_takeover: bool = True
    # IoT Core: topic alias maximum 8.
    topic_alias_maximum: int = 8
    # Will Delay Interval upper bound (a will is also sent when the session ends) [MQTT-3.1.3-9].
    max_will_delay: int = 3600
    # Seconds a connection may stay silent before its CONNECT arrives (half-open sockets).
    connect_timeout: float = 10.0
    # Housekeeping sweep interval: keep-alive, credential expiry, will delay, session expiry.
    sweep_interval: float = 1.0
    # Publish lifecycle events on $aws/events/... like IoT Core.
    lifecycle_events: bool = True
    # Folder for broker.sqlite3 (retained messages, persistent sessions); None keeps memory only.
    data_dir: Path | None = None

    def clamp_keepalive(self, requested: int) -> int:
        """The keep-alive the broker applies to a client that asked for ``requested``."""
        if requested == 0:
            return self.keepalive_max
        return max(self.keepalive_min, min(self.keepalive_max, requested))
