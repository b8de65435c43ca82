"""The signing keyring: several keys with ids, one active, rotation without a flag day.

The keyring lives in hubbub's data folder as ``<data>/keys.json`` (mode 0600), created on
first start with random 32-byte secrets; nothing secret is ever in the repository. File
format (version 1)::

    {"version": 1, "active": "<kid>",
     "keys": [{"kid": "...", "secret": "<base64url>", "created": <s>, "retired": <s>|null}]}

Rotation adds a fresh key, makes it active and keeps the previous ones *for verification
only* until every token they signed has expired (``keep_for`` = longest token lifetime +
leeway); older retired keys are dropped at the next rotation. Several nodes share one file
(BRIEF: "the same, shared key"); a node notices a rotation through :meth:`Keyring.refresh`.
This is the only module in ``hubbub.auth`` that touches the file system.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hubbub.auth.principal import Clock
from hubbub.errors import ConfigError, UsageError

SECRET_BYTES = 32  # 256-bit secrets: the HMAC-SHA256 block-size-safe minimum (RFC 7518 §3.2)
FILE_VERSION = 1
DEFAULT_KEEP_FOR = 3600.0 + 60.0  # default token ttl + leeway: no valid token loses its key


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One HMAC key. ``retired_at`` is set when another key became active."""

    kid: str
    secret: bytes = field(repr=False)
    created_at: float
    retired_at: float | None = None


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    # validate=True: a stray character is an error, not silently skipped.
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _new_key(now: float, taken: Iterable[str]) -> SigningKey:
    used = set(taken)
    while True:
        kid = secrets.token_hex(4)
        if kid not in used:
            return SigningKey(kid, secrets.token_bytes(SECRET_BYTES), now)


class Keyring:
    """Signing keys by id, one of them active; optionally backed by a key file."""

    def __init__(self, keys: Iterable[SigningKey], active_kid: str, *, clock: Clock,
                 path: Path | None = None) -> None:
        self._keys = {k.kid: k for k in keys}
        if active_kid not in self._keys:
            raise UsageError(f"active key {active_kid!r} is not in the keyring")
        self._active = active_kid
        self._clock = clock
        self._path = path
        self._stamp: tuple[int, int, int] | None = None

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def generate(cls, *, clock: Clock) -> Keyring:
        """An in-memory keyring with one fresh key (tests, throwaway servers)."""
        key = _new_key(clock(), ())
        return cls([key], key.kid, clock=clock)

    @classmethod
    def load_or_create(cls, path: Path, *, clock: Clock) -> Keyring:
        """Load ``path``; create it (0600, one fresh key) if it does not exist yet."""
        if not path.exists():
            fresh = cls.generate(clock=clock)
            fresh._path = path
            if fresh._write(exclusive=True):
                return fresh
            # Another process created it between our check and our link: use theirs.
        return cls.load(path, clock=clock)

    @classmethod
    def load(cls, path: Path, *, clock: Clock) -> Keyring:
        """Load an existing key file; ``ConfigError`` if it is unreadable, invalid or exposed."""
        keys, active, stamp = _read(path)
        ring = cls(keys, active, clock=clock, path=path)
        ring._stamp = stamp
        return ring

    # -- queries --------------------------------------------------------------------------

    @property
    def active(self) -> SigningKey:
        return self._keys[self._active]

    @property
    def path(self) -> Path | None:
        return self._path

    def get(self, kid: str) -> SigningKey | None:
        return self._keys.get(kid)

    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    # -- changes --------------------------------------------------------------------------

    def rotate(self, *, keep_for: float = DEFAULT_KEEP_FOR) -> SigningKey:
        """Add a new active key; retire the old one; drop keys retired ``keep_for`` ago.

        ``keep_for=0`` is an emergency revocation: only the new key remains. Saves the file
        when the keyring has one. Returns the new active key.
        """
        if keep_for < 0:
            raise UsageError("keep_for must be >= 0 seconds")
        now = self._clock()
        # A key retired at T signed tokens valid until T + ttl (+ leeway): keep it while
        # now - T < keep_for. keep_for=0 keeps none: every outstanding token dies now.
        kept = {
            kid: k for kid, k in self._keys.items()
            if kid != self._active and (k.retired_at is None or now - k.retired_at < keep_for)
        }
        if keep_for > 0:
            old = self._keys[self._active]
            kept[old.kid] = replace(old, retired_at=now)
        new = _new_key(now, self._keys)
        kept[new.kid] = new
        self._keys = kept
        self._active = new.kid
        if self._path is not None:
            self._write(exclusive=False)
        return new

    def refresh(self) -> bool:
        """Re-read the key file if another process changed it; True if keys were reloaded.

        Cheap (one ``stat``) when nothing changed. A vanished or broken file keeps the keys
        in memory: verification must not stop because of an operator's typo.
        """
        if self._path is None:
            return False
        try:
            st = self._path.stat()
        except OSError:
            return False
        if (st.st_mtime_ns, st.st_size, st.st_ino) == self._stamp:
            return False
        try:
            keys, active, stamp = _read(self._path)
        except ConfigError:
            return False
        self._keys = {k.kid: k for k in keys}
        self._active = active
        self._stamp = stamp
        return True

    def _write(self, *, exclusive: bool) -> bool:
        assert self._path is not None
        doc = {
            "version": FILE_VERSION,
            "active": self._active,
            "keys": [
                {"kid": k.kid, "secret": _b64e(k.secret), "created": k.created_at,
                 "retired": k.retired_at}
                for k in self._keys.values()
            ],
        }
        data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        # 0600 from the first byte: the secret is never readable by others, not even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if exclusive:
                try:
                    os.link(tmp, self._path)  # atomic create-if-absent
                except FileExistsError:
                    return False
            else:
                os.replace(tmp, self._path)  # atomic: readers see the old or the new file
        finally:
            tmp.unlink(missing_ok=True)
        st = self._path.stat()
        self._stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        return True


def _read(path: Path) -> tuple[list[SigningKey], str, tuple[int, int, int]]:
    try:
        st = path.stat()
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
    if os.name == "posix" and st.st_mode & 0o077:
        raise ConfigError(
            f"key file {path} is accessible by other users (mode {st.st_mode & 0o777:04o}); "
            f"run: chmod 600 {path}")
    try:
        doc: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"key file {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != FILE_VERSION:
        raise ConfigError(f"key file {path}: expected an object with \"version\": {FILE_VERSION}")
    entries, active = doc.get("keys"), doc.get("active")
    if not isinstance(entries, list) or not entries or not isinstance(active, str):
        raise ConfigError(f"key file {path}: needs a non-empty \"keys\" list and \"active\"")
    keys: list[SigningKey] = []
    for i, e in enumerate(entries):
        keys.append(_parse_key(path, i, e))
    if active not in {k.kid for k in keys}:
        raise ConfigError(f"key file {path}: active key {active!r} is not among the keys")
    if len({k.kid for k in keys}) != len(keys):
        raise ConfigError(f"key file {path}: duplicate key ids")
    return keys, active, (st.st_mtime_ns, st.st_size, st.st_ino)


def _parse_key(path: Path, i: int, e: Any) -> SigningKey:
    where = f"key file {path}: keys[{i}]"
    if not isinstance(e, dict):
        raise ConfigError(f"{where} is not an object")
    kid, secret, created, retired = e.get("kid"), e.get("secret"), e.get("created"), \
        e.get("retired")
    if not isinstance(kid, str) or not kid:
        raise ConfigError(f"{where}: \"kid\" must be a non-empty string")
    if not isinstance(secret, str):
        raise ConfigError(f"{where}: \"secret\" must be a base64url string")
    try:
        raw = _b64d(secret)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: \"secret\" is not valid base64url") from None
    if len(raw) < SECRET_BYTES:
        raise ConfigError(f"{where}: secret shorter than {SECRET_BYTES} bytes")
    if not isinstance(created, int | float) or isinstance(created, bool):
        raise ConfigError(f"{where}: \"created\" must be a number")
    if retired is not None and (not isinstance(retired, int | float) or isinstance(retired, bool)):
        raise ConfigError(f"{where}: \"retired\" must be a number or null")
    return SigningKey(kid, raw, float(created), None if retired is None else float(retired))
