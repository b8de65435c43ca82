"""MQTT sessions: subscriptions and QoS 1/2 state that outlive a connection.

A session lives from the CONNECT that creates it until it expires: at disconnect when
its Session Expiry Interval is 0 (clean), or that many seconds later [MQTT-3.1.2-23].
While the client is offline, QoS 1/2 messages wait in its bounded queue; unacknowledged
ones are sent again with DUP set when it reconnects [MQTT-4.4.0-1].
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from hubbub.broker.message import Message
from hubbub.broker.router import Grant


@dataclass(eq=False, slots=True)
class Outgoing:
    """A QoS>0 message for one session: waiting in the queue or in flight."""

    msg: Message
    qos: int
    retain: bool
    identifiers: tuple[int, ...] = ()
    released: bool = False  # QoS 2: PUBREC came, PUBREL sent, waiting for PUBCOMP


class Link(Protocol):
    """What a session needs from its live connection."""

    def pump(self) -> None: ...


class Session:
    """One client id's session state (no I/O)."""

    __slots__ = ("client_id", "session_id", "principal_id", "expiry_interval", "subscriptions",
                 "inflight", "queue", "inbound_qos2", "link", "disconnected_at", "dropped",
                 "max_queued", "__weakref__")

    def __init__(self, client_id: str, session_id: str, *, expiry_interval: int = 0,
                 principal_id: str = "", max_queued: int = 1000) -> None:
        self.client_id = client_id
        self.session_id = session_id
        self.principal_id = principal_id
        self.expiry_interval = expiry_interval
        self.subscriptions: dict[str, Grant] = {}
        self.inflight: dict[int, Outgoing] = {}
        # Made on first use: most sessions never queue nor receive QoS 2, and an empty
        # deque and set cost ~1 KiB per connection (bench/profile_connect.py --hold).
        self.queue: deque[Outgoing] | None = None
        self.inbound_qos2: set[int] | None = None
        self.link: Link | None = None
        self.disconnected_at: float | None = None
        self.dropped = 0
        self.max_queued = max_queued

    def __repr__(self) -> str:
        return f"<Session {self.client_id!r}>"

    def enqueue(self, out: Outgoing) -> bool:
        """Queue for delivery; False (and counted) if the queue is full."""
        queue = self.queue
        if queue is None:
            queue = self.queue = deque()
        elif len(queue) >= self.max_queued:
            self.dropped += 1
            return False
        queue.append(out)
        return True

    def qos2_ids(self) -> set[int]:
        """Inbound QoS 2 packet ids received and not yet released by PUBREL."""
        ids = self.inbound_qos2
        if ids is None:
            ids = self.inbound_qos2 = set()
        return ids

    def expires_at(self) -> float | None:
        if self.link is not None or self.disconnected_at is None:
            return None
        return self.disconnected_at + self.expiry_interval

    # --- persistence -------------------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        from hubbub.broker.storage import message_to_record

        def out_rec(o: Outgoing, pid: int | None) -> dict[str, Any]:
            return {"pid": pid, "msg": message_to_record(o.msg), "qos": o.qos,
                    "retain": o.retain, "ids": list(o.identifiers), "released": o.released}

        return {
            "client_id": self.client_id, "session_id": self.session_id,
            "principal_id": self.principal_id, "expiry_interval": self.expiry_interval,
            "disconnected_at": self.disconnected_at,
            "subscriptions": {f: [g.qos, g.no_local, g.retain_as_published,
                                  g.retain_handling, list(g.identifiers)]
                              for f, g in self.subscriptions.items()},
            "inflight": [out_rec(o, pid) for pid, o in self.inflight.items()],
            "queue": [out_rec(o, None) for o in self.queue or ()],
            "inbound_qos2": sorted(self.inbound_qos2 or ()),
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any], max_queued: int) -> Session:
        from hubbub.broker.storage import message_from_record

        s = cls(rec["client_id"], rec["session_id"], expiry_interval=rec["expiry_interval"],
                principal_id=rec["principal_id"], max_queued=max_queued)
        s.disconnected_at = rec["disconnected_at"]
        for flt, (qos, nl, rap, rh, ids) in rec["subscriptions"].items():
            s.subscriptions[flt] = Grant(qos, nl, rap, rh, tuple(ids))

        def out(o: dict[str, Any]) -> Outgoing:
            return Outgoing(message_from_record(o["msg"]), o["qos"], o["retain"],
                            tuple(o["ids"]), o["released"])

        for o in rec["inflight"]:
            s.inflight[o["pid"]] = out(o)
        if rec["queue"]:
            s.queue = deque(out(o) for o in rec["queue"])
        s.inbound_qos2 = set(rec["inbound_qos2"]) or None
        return s


class SessionStore:
    """client id -> Session, with expiry of disconnected sessions."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def get(self, client_id: str) -> Session | None:
        return self._sessions.get(client_id)

    def put(self, session: Session) -> None:
        self._sessions[session.client_id] = session

    def remove(self, session: Session) -> None:
        if self._sessions.get(session.client_id) is session:
            del self._sessions[session.client_id]

    def expired(self, now: float) -> list[Session]:
        """Disconnected sessions whose expiry interval has passed [MQTT-3.1.2-23]."""
        out = []
        for s in self._sessions.values():
            exp = s.expires_at()
            if exp is not None and now >= exp:
                out.append(s)
        return out
