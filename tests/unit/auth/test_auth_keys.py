from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from hubbub.auth.keys import SECRET_BYTES, Keyring
from hubbub.errors import ConfigError, UsageError


def test_created_on_first_start_with_0600_and_random_secret(tmp_path: Path, clock) -> None:
    path = tmp_path / "data" / "keys.json"
    ring = Keyring.load_or_create(path, clock=clock)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(ring.active.secret) == SECRET_BYTES
    doc = json.loads(path.read_text())
    assert doc["active"] == ring.active.kid
    assert [k["kid"] for k in doc["keys"]] == [ring.active.kid]
    # No stray temporary files next to it.
    assert [p.name for p in path.parent.iterdir()] == ["keys.json"]


def test_second_start_loads_the_same_keys(tmp_path: Path, clock) -> None:
    path = tmp_path / "keys.json"
    first = Keyring.load_or_create(path, clock=clock)
    second = Keyring.load_or_create(path, clock=clock)
    assert second.active == first.active


def test_two_generated_keyrings_differ(clock) -> None:
    a, b = Keyring.generate(clock=clock), Keyring.generate(clock=clock)
    assert a.active.secret != b.active.secret
    assert "secret" not in repr(a.active)  # secrets stay out of logs


def test_rotate_keeps_old_key_for_verification_then_drops_it(tmp_path: Path, clock) -> None:
    path = tmp_path / "keys.json"
    ring = Keyring.load_or_create(path, clock=clock)
    k1 = ring.active
    clock.advance(10)
    k2 = ring.rotate(keep_for=100)
    assert ring.active == k2 and k2.kid != k1.kid
    old = ring.get(k1.kid)
    assert old is not None and old.retired_at == clock.now
    assert set(Keyring.load(path, clock=clock).kids()) == {k1.kid, k2.kid}
    clock.advance(99)
    k3 = ring.rotate(keep_for=100)  # k1 retired 99 s ago: still needed
    assert set(ring.kids()) == {k1.kid, k2.kid, k3.kid}
    clock.advance(1)
    k4 = ring.rotate(keep_for=100)  # k1 retired 100 s ago: its tokens are all dead
    assert set(ring.kids()) == {k2.kid, k3.kid, k4.kid}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rotate_with_keep_for_zero_revokes_everything(clock) -> None:
    ring = Keyring.generate(clock=clock)
    ring.rotate()
    new = ring.rotate(keep_for=0)
    assert ring.kids() == (new.kid,)


def test_rotate_rejects_negative_keep_for(clock) -> None:
    with pytest.raises(UsageError):
        Keyring.generate(clock=clock).rotate(keep_for=-1)


def test_refresh_picks_up_rotation_by_another_process(tmp_path: Path, clock) -> None:
    path = tmp_path / "keys.json"
    server = Keyring.load_or_create(path, clock=clock)
    assert server.refresh() is False  # unchanged: only a stat
    cli = Keyring.load(path, clock=clock)
    new = cli.rotate()
    assert server.get(new.kid) is None
    assert server.refresh() is True
    assert server.active == new


def test_refresh_keeps_keys_when_file_breaks_or_vanishes(tmp_path: Path, clock) -> None:
    path = tmp_path / "keys.json"
    ring = Keyring.load_or_create(path, clock=clock)
    kid = ring.active.kid
    path.write_text("{ nope")
    assert ring.refresh() is False and ring.active.kid == kid
    path.unlink()
    assert ring.refresh() is False and ring.active.kid == kid


def test_in_memory_keyring_never_touches_disk(clock) -> None:
    ring = Keyring.generate(clock=clock)
    assert ring.path is None and ring.refresh() is False
    ring.rotate()


def test_refuses_key_file_readable_by_others(tmp_path: Path, clock) -> None:
    path = tmp_path / "keys.json"
    Keyring.load_or_create(path, clock=clock)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        Keyring.load(path, clock=clock)


def _write(path: Path, doc: object) -> None:
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    os.chmod(path, 0o600)


GOOD_SECRET = "A" * 43  # 32 bytes of base64url


@pytest.mark.parametrize(("doc", "message"), [
    ("not json", "not valid JSON"),
    ([], "version"),
    ({"version": 2, "active": "a", "keys": []}, "version"),
    ({"version": 1, "active": "a", "keys": []}, "non-empty"),
    ({"version": 1, "active": "a", "keys": ["x"]}, "not an object"),
    ({"version": 1, "active": "a", "keys": [{"kid": "", "secret": GOOD_SECRET, "created": 1}]},
     "kid"),
    ({"version": 1, "active": "a", "keys": [{"kid": "a", "secret": 5, "created": 1}]},
     "secret"),
    ({"version": 1, "active": "a", "keys": [{"kid": "a", "secret": "!!!", "created": 1}]},
     "base64url"),
    ({"version": 1, "active": "a", "keys": [{"kid": "a", "secret": "AAAA", "created": 1}]},
     "shorter"),
    ({"version": 1, "active": "a", "keys": [{"kid": "a", "secret": GOOD_SECRET}]}, "created"),
    ({"version": 1, "active": "a",
      "keys": [{"kid": "a", "secret": GOOD_SECRET, "created": 1, "retired": "x"}]}, "retired"),
    ({"version": 1, "active": "b", "keys": [{"kid": "a", "secret": GOOD_SECRET, "created": 1}]},
     "not among"),
    ({"version": 1, "active": "a", "keys": [{"kid": "a", "secret": GOOD_SECRET, "created": 1},
                                            {"kid": "a", "secret": GOOD_SECRET, "created": 2}]},
     "duplicate"),
])
def test_invalid_key_files_give_clear_errors(tmp_path: Path, clock, doc: object,
                                             message: str) -> None:
    path = tmp_path / "keys.json"
    _write(path, doc)
    with pytest.raises(ConfigError, match=message):
        Keyring.load(path, clock=clock)


def test_missing_file_on_load(tmp_path: Path, clock) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Keyring.load(tmp_path / "nope.json", clock=clock)


def test_active_must_exist(clock) -> None:
    ring = Keyring.generate(clock=clock)
    with pytest.raises(UsageError):
        Keyring([ring.active], "other", clock=clock)
