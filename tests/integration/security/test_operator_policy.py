"""Giving a client a different policy: an operator drops an IoT policy document into
``<data>/policies/`` and issues the client a token naming it (``hubbub keys issue``)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hubbub.admin import issue_command
from hubbub.config import load_config
from hubbub.errors import ConfigError

from .conftest import start_server

SENSOR_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect",
         "Resource": "arn:aws:iot:*:*:client/${iot:ClientId}"},
        {"Effect": "Allow", "Action": "iot:Publish",
         "Resource": "arn:aws:iot:*:*:topic/sensors/${iot:ClientId}/*"},
    ],
}


def _issue(data: Path, client_id: str, policy: str) -> dict[str, object]:
    cfg = load_config(env={}, overrides={"data": str(data)})
    out = io.StringIO()
    assert issue_command(cfg, client_id, policy, out=out) == 0
    creds: dict[str, object] = json.loads(out.getvalue())
    return creds


async def test_issued_token_holds_the_client_to_the_operator_policy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "policies").mkdir(parents=True)
    (data / "policies" / "sensor.json").write_text(json.dumps(SENSOR_POLICY))
    server = await start_server(data)
    try:
        creds = _issue(data, "sensor-1", "sensor")
        assert creds["clientId"] == "sensor-1" and creds["policy"] == "sensor"
        peer = server.peer("sensor-1", str(creds["token"]))
        assert await peer.connect() == 0
        assert await peer.publish("sensors/sensor-1/temp", b"21.5") == 0
        assert await peer.publish("chat/out", b"{}") == 0x87  # not in this policy
        assert await peer.publish("sensors/sensor-2/temp", b"1") == 0x87  # another's topic
        peer.close()
        # the same token does not let anyone else use that client id's policy
        thief = server.peer("sensor-2", str(creds["token"]))
        assert await thief.connect() == 0x87
        thief.close()
    finally:
        await server.node.stop()


def test_issue_refuses_unknown_policies_and_bad_client_ids(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no policy 'nope'"):
        _issue(tmp_path, "dev-1", "nope")
    with pytest.raises(ConfigError, match="client-id"):
        _issue(tmp_path, "dev/1", "chat-guest")


async def test_operator_policy_may_not_shadow_the_application(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "policies").mkdir(parents=True)
    (data / "policies" / "chat-guest.json").write_text(json.dumps(SENSOR_POLICY))
    with pytest.raises(ConfigError, match="taken by the application"):
        await start_server(data)
