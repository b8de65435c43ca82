"""Operator commands behind the CLI: ``hubbub keys list|rotate|issue`` and ``hubbub sfn ...``
(the latter lives in :mod:`hubbub.sfn_cli`, next to the workflow wiring).

``keys`` works on ``<data>/keys.json`` directly, while servers may be running on the same
folder: a rotation is an atomic file replace (``Keyring.rotate``), and running servers pick
it up on their next credentials request or when they meet a token with an unknown ``kid``
(docs/security.md, "Rotation"). Secrets are never printed.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from hubbub.auth.keys import Keyring
from hubbub.auth.tokens import DEFAULT_LEEWAY
from hubbub.config import Config
from hubbub.errors import ConfigError, NotAuthorized, UsageError

KEY_FILE = "keys.json"
#: A retired key must verify every token it signed: the token lifetime, the verification
#: leeway, and a margin for a rotation racing a credentials request.
ROTATION_MARGIN = 30.0


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def keep_for(cfg: Config) -> float:
    """Seconds a retired key keeps verifying after ``hubbub keys rotate``."""
    return cfg.token_ttl + DEFAULT_LEEWAY + ROTATION_MARGIN


def keys_command(cfg: Config, action: str, *, clock: Callable[[], float] = time.time,
                 out: TextIO | None = None) -> int:
    """``hubbub keys list`` / ``hubbub keys rotate``; returns the process exit code.

    ``list`` shows every key id, which one signs, and until when retired keys verify.
    ``rotate`` adds a key and makes it the signing key; the previous one keeps verifying
    for the token lifetime plus leeway, so nobody is cut off. Without a key file, ``list``
    says so (exit 1) and ``rotate`` creates one.
    """
    out = out or sys.stdout
    path = Path(cfg.data) / KEY_FILE
    if action == "list":
        if not path.exists():
            print(f"hubbub: no key file at {path}; the first `hubbub serve` "
                  "(or `hubbub keys rotate`) creates it", file=sys.stderr)
            return 1
        _print_keys(Keyring.load(path, clock=clock), cfg, clock(), out)
        return 0
    if action == "rotate":
        if not path.exists():
            ring = Keyring.load_or_create(path, clock=clock)
            print(f"created {path} with signing key {ring.active.kid}", file=out)
            return 0
        ring = Keyring.load(path, clock=clock)
        old = ring.active.kid
        new = ring.rotate(keep_for=keep_for(cfg))
        until = _when(clock() + keep_for(cfg))
        print(f"rotated: new signing key {new.kid}; {old} verifies until {until}", file=out)
        print("running servers pick up the new key on their next credentials request",
              file=out)
        return 0
    raise UsageError(f"unknown keys action {action!r}")


def issue_command(cfg: Config, client_id: str | None, policy: str | None, *,
                  clock: Callable[[], float] = time.time, out: TextIO | None = None) -> int:
    """``hubbub keys issue --client-id ID --policy NAME``: a token for a client held to a
    policy of the application or of ``<data>/policies/NAME.json`` (a device, a bot, a
    test suite), printed as the JSON ``POST /api/credentials`` returns."""
    from hubbub.app import load_app
    from hubbub.auth.policy import check_client_id
    from hubbub.auth.tokens import TokenService
    from hubbub.identity import load_policies

    out = out or sys.stdout
    if not client_id or not policy:
        raise ConfigError("keys issue needs --client-id and --policy")
    try:
        check_client_id(client_id)
    except NotAuthorized as exc:
        raise ConfigError(f"--client-id {client_id!r}: {exc}") from None
    data = Path(cfg.data)
    known = load_policies(load_app(cfg.app).policies, data, None)
    if policy not in known:
        raise ConfigError(f"no policy {policy!r}: known are {', '.join(sorted(known))} "
                          f"(add one as {data / 'policies' / (policy + '.json')})")
    ring = Keyring.load_or_create(data / KEY_FILE, clock=clock)
    token, principal = TokenService(ring, clock).sign(
        identity_id=f"operator:{client_id}", client_id=client_id, policy_name=policy,
        guest=False, ttl=cfg.token_ttl)
    json.dump({"token": token, "clientId": client_id, "identityId": principal.identity_id,
               "policy": policy, "expiresAt": principal.expires_at * 1000}, out)
    print(file=out)
    return 0


def _print_keys(ring: Keyring, cfg: Config, now: float, out: TextIO) -> None:
    print(f"{'KID':<10} {'STATUS':<12} {'CREATED':<21} VERIFIES UNTIL", file=out)
    for kid in ring.kids():
        key = ring.get(kid)
        assert key is not None
        if kid == ring.active.kid:
            status, until = "signing", "-"
        elif key.retired_at is None:
            status, until = "verify-only", "until next rotation"
        else:
            end = key.retired_at + keep_for(cfg)
            status = "verify-only" if now < end else "expired"
            until = _when(end)
        print(f"{kid:<10} {status:<12} {_when(key.created_at):<21} {until}", file=out)


async def sfn_command(cfg: Config, action: str, target: str | None, input_json: str,
                      name: str | None) -> int:
    """``hubbub sfn start|describe|history|list`` (implemented in :mod:`hubbub.sfn_cli`)."""
    from hubbub.sfn_cli import sfn_command as run

    return await run(cfg, action, target, input_json, name)
