"""Broker persistence in ``<data>/broker.sqlite3`` (stdlib sqlite3).

Retained messages are written through on every change. Persistent sessions are written
on graceful shutdown (and read back at start). After a crash, retained messages survive;
session state is as of the last graceful shutdown (see docs/broker.md).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

from hubbub.broker.message import Message
from hubbub.mqtt.packets import Properties

_SCHEMA = """
CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (client_id TEXT PRIMARY KEY, record TEXT NOT NULL);
"""


def _props_to_record(p: Properties) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(p):
        v = getattr(p, f.name)
        if v is None or v == ():
            continue
        if isinstance(v, bytes):
            v = {"b64": base64.b64encode(v).decode()}
        elif f.name == "user_properties":
            v = [list(kv) for kv in v]
        out[f.name] = v
    return out


def _props_from_record(rec: dict[str, Any]) -> Properties:
    kw: dict[str, Any] = {}
    for k, v in rec.items():
        if isinstance(v, dict) and "b64" in v:
            v = base64.b64decode(v["b64"])
        elif k == "user_properties":
            v = tuple((a, b) for a, b in v)
        elif isinstance(v, list):
            v = tuple(v)
        kw[k] = v
    return Properties(**kw)


def message_to_record(m: Message) -> dict[str, Any]:
    return {"topic": m.topic, "payload": base64.b64encode(m.payload).decode(), "qos": m.qos,
            "retain": m.retain, "props": _props_to_record(m.properties),
            "created_at": m.created_at}


def message_from_record(r: dict[str, Any]) -> Message:
    return Message(r["topic"], base64.b64decode(r["payload"]), r["qos"], r["retain"],
                   _props_from_record(r["props"]), r["created_at"])


class BrokerStore:
    """The broker's SQLite file. Synchronous: each write is one small transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def put_retained(self, msg: Message) -> None:
        self._db.execute("INSERT OR REPLACE INTO retained VALUES (?, ?)",
                         (msg.topic, json.dumps(message_to_record(msg))))

    def delete_retained(self, topic: str) -> None:
        self._db.execute("DELETE FROM retained WHERE topic = ?", (topic,))

    def load_retained(self) -> list[Message]:
        rows = self._db.execute("SELECT record FROM retained").fetchall()
        return [message_from_record(json.loads(r[0])) for r in rows]

    def save_sessions(self, records: list[dict[str, Any]]) -> None:
        """Replace every stored session with ``records`` in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM sessions")
            self._db.executemany("INSERT INTO sessions VALUES (?, ?)",
                                 [(r["client_id"], json.dumps(r)) for r in records])

    def load_sessions(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT record FROM sessions").fetchall()
        return [json.loads(r[0]) for r in rows]
