"""``hubbub serve --anonymous-policy``: generic MQTT tools (mosquitto_pub/sub, Debian) get in
under the operator's policy, or under ``allow-all``; without the option they are refused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import hubbub.auth

from .serverproc import ServerProcess

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("mosquitto_sub") is None,
                                 reason="mosquitto-clients is not installed")]

ANONYMOUS = Path(hubbub.auth.__file__).with_name("policies") / "anonymous.json"
# mosquitto_sub block-buffers stdout into a pipe; line buffering lets us see the SUBACK live.
STDBUF = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []


def pub(server: ServerProcess, topic: str, message: str, *extra: str
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(server.mqtt_port),
                           "-t", topic, "-m", message, "-q", "1", *extra],
                          capture_output=True, text=True, timeout=15)


class Sub:
    """mosquitto_sub -d: we read its debug output until the SUBACK codes, then publish."""

    def __init__(self, server: ServerProcess, topic: str, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [*STDBUF, "mosquitto_sub", "-h", "127.0.0.1", "-p", str(server.mqtt_port), "-t", topic,
             "-d", "-C", "1", "-W", "10", "-v", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def suback(self) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # -W 10 bounds this: the process exits, EOF
            if line.startswith("Subscribed (mid: 1):"):
                return line.split(":", 2)[2].strip()
        raise AssertionError(f"no SUBACK: {self.proc.stderr.read() if self.proc.stderr else ''}")

    def finish(self) -> tuple[int, str]:
        out, err = self.proc.communicate(timeout=15)
        return self.proc.returncode, out + err


def test_without_option_mqtt_tools_are_refused(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as server:
        v311 = pub(server, "demo/t", "hi")
        assert v311.returncode == 5 and "not authorised" in v311.stderr  # CONNACK rc 5
        v5 = pub(server, "demo/t", "hi", "-V", "5")
        assert v5.returncode == 0x87 and "Not authorized" in v5.stderr  # CONNACK 0x87


@pytest.mark.parametrize("version", ["311", "5"])
def test_anonymous_policy_file(tmp_path: Path, version: str) -> None:
    policy = tmp_path / "operator-policy.json"
    policy.write_bytes(ANONYMOUS.read_bytes())
    with ServerProcess(tmp_path / "data", "--anonymous-policy", str(policy)) as server:
        sub = Sub(server, "demo/#", "-V", version)
        assert sub.suback() == "0"
        assert pub(server, "demo/t", "hello", "-V", version).returncode == 0
        code, out = sub.finish()
        assert code == 0 and "demo/t hello" in out.splitlines()
        # The policy still holds: no inboxes, no room topics, no broker topics.
        spy = Sub(server, "chat/in/#", "-V", version)
        assert spy.suback() == ("128" if version == "311" else "135")  # 0x80 / 0x87
        _, out = spy.finish()
        assert "All subscription requests were denied." in out
        if version == "5":
            # QoS 1 PUBLISH refused with PUBACK 0x87; mosquitto_pub warns, exits 0.
            forged = pub(server, "chat/pub/lobby", "x", "-V", "5")
            assert "Publish 1 failed: Not authorized." in forged.stderr


def test_allow_all(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data", "--anonymous-policy", "allow-all") as server:
        sub = Sub(server, "#")
        assert sub.suback() == "0"
        assert pub(server, "chat/in/anyone", "wide open").returncode == 0
        code, out = sub.finish()
        assert code == 0 and "chat/in/anyone wide open" in out.splitlines()


def test_bad_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
                   '"Action": "iot:Fly", "Resource": "*"}]}')
    for policy in (bad, tmp_path / "missing.json"):
        server = ServerProcess(tmp_path / "data", "--anonymous-policy", str(policy))
        with pytest.raises(AssertionError, match="exited 2"):
            server.start(timeout=15)
        err = server.stderr()
        assert "Traceback" not in err and err.startswith("hubbub: error:"), err
