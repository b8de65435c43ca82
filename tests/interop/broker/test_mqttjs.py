"""MQTT.js (npm ``mqtt``) under Node against the broker over WebSocket.

Needs ``npm install`` in tests/interop/js (CI does it); skipped when Node or the
package is missing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from broker_interop_env import Servers

JS = Path(__file__).resolve().parents[1] / "js"

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(not (JS / "node_modules" / "mqtt").exists(),
                       reason="run npm install in tests/interop/js"),
]


@pytest.mark.parametrize("version", [4, 5])
async def test_mqttjs_over_websocket(servers: Servers, version: int) -> None:
    proc = await asyncio.create_subprocess_exec(
        "node", str(JS / "broker_interop.js"), f"ws://127.0.0.1:{servers.ws_port}/mqtt",
        str(version), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out)
    assert result["granted"] == [2]
    got = result["got"]
    first = got[0]
    assert (first["topic"], first["payload"], first["qos"], first["retain"]) == (
        "js/retained", "kept", 1, True)
    assert [(m["payload"], m["qos"], m["retain"]) for m in got[1:]] == [
        ("q0", 0, False), ("q1", 1, False), ("q2", 2, False)]
    if version == 5:
        assert result["maximumPacketSize"] == servers.broker.settings.max_packet_bytes
        assert got[1].get("user") == {"from": "mqtt.js"}
