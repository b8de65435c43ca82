"""The ``hubbub`` command as a user runs it: a real subprocess, free ports, a temp data dir."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from .security.peers import post
from .security.serverproc import HUBBUB, ServerProcess


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}
    return subprocess.run([HUBBUB, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def test_help_lists_the_commands() -> None:
    r = run("--help")
    assert r.returncode == 0 and r.stderr == ""
    for word in ("serve", "keys", "sfn"):
        assert word in r.stdout
    r = run("serve", "--help")
    assert r.returncode == 0 and "--anonymous-policy" in r.stdout and "--data" in r.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "70000"], "port: 70000 is not a TCP port (0-65535)"),
    (["--mqtt-port", "-1"], "mqtt_port: -1 is not a TCP port (0-65535)"),
    (["--max-qos", "3"], "max_qos: 3 is not 0, 1 or 2"),
    (["--token-ttl", "5"], "token_ttl: at least 60 seconds"),
    (["--table-engine", "mongodb"], "table_engine: unknown engine 'mongodb'"),
    (["--log-level", "loud"], "log_level: 'loud' is not debug/info/warning/error"),
    (["--data", "/proc/hubbub-data"], "data folder /proc/hubbub-data: No such file or "
                                       "directory"),
    (["--event-loop", "trio"], "event_loop: 'trio' is not auto, uvloop or asyncio"),
    (["--config", "/nonexistent/hubbub.toml"], "config file /nonexistent/hubbub.toml does "
                                               "not exist"),
])
def test_bad_option_values_one_line_error(tmp_path: Path, args: list[str],
                                          message: str) -> None:
    r = run("serve", "--data", str(tmp_path / "data"), *args)
    assert r.returncode == 2
    assert r.stderr == f"hubbub: error: {message}\n"
    assert r.stdout == ""
    assert not (tmp_path / "data").exists()  # nothing started, nothing created


@pytest.mark.parametrize("args", [["--port", "http"], ["--max-qos", "one"], ["bogus"]])
def test_unparsable_options_are_usage_errors(args: list[str]) -> None:
    # argparse's own refusal: the usage, then one error line; never a traceback.
    r = run("serve", *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1].startswith(("hubbub serve: error: ", "hubbub: error: "))


@pytest.mark.parametrize("which", ["--port", "--mqtt-port"])
def test_port_already_in_use(tmp_path: Path, which: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        other = "--mqtt-port" if which == "--port" else "--port"
        r = run("serve", "--host", "127.0.0.1", which, port, other, "0",
                "--data", str(tmp_path / "data"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("hubbub: error: cannot listen:")
    assert "address already in use" in r.stderr.lower() and port in r.stderr
    assert len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize(("sig", "loop"), [(signal.SIGTERM, "asyncio"), (signal.SIGINT, "asyncio"),
                                         (signal.SIGTERM, "uvloop")])
def test_serve_starts_and_stops_cleanly(tmp_path: Path, sig: int, loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")  # the bench extra, which the test command installs
    server = ServerProcess(tmp_path / "data", "--event-loop", loop).start()
    try:
        status, _, creds = post(f"{server.url}/api/credentials", b"{}")
        assert status == 200 and creds["mqttUrl"] == f"ws://127.0.0.1:{server.port}/mqtt"
        server.signal(sig)
        assert server.wait() == 0
    finally:
        server.kill()
    out = server.stdout()
    assert f"hubbub is running: open {server.url}/lobby" in out
    assert f"MQTT over TCP: 127.0.0.1:{server.mqtt_port}" in out
    assert "shutting down" in out
    assert f"event loop: {loop}" in out
    assert "Traceback" not in server.stderr()
    keys = tmp_path / "data" / "keys.json"
    assert keys.stat().st_mode & 0o777 == 0o600  # created on first start, private


def test_keys_list_and_rotate_with_a_running_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = run("keys", "list", "--data", str(data))
    assert r.returncode == 1 and "no key file" in r.stderr and "Traceback" not in r.stderr
    server = ServerProcess(data).start()
    try:
        listed = run("keys", "list", "--data", str(data))
        assert listed.returncode == 0
        rows = listed.stdout.splitlines()[1:]
        assert len(rows) == 1 and rows[0].split()[1] == "signing"
        first_kid = rows[0].split()[0]
        _, _, before = post(f"{server.url}/api/credentials", b"{}")
        assert kid_of(before["token"]) == first_kid

        rotated = run("keys", "rotate", "--data", str(data))
        assert rotated.returncode == 0, rotated.stderr
        rows = run("keys", "list", "--data", str(data)).stdout.splitlines()[1:]
        status = {row.split()[0]: row.split()[1] for row in rows}
        new_kid = next(k for k, s in status.items() if s == "signing")
        assert status == {first_kid: "verify-only", new_kid: "signing"}
        secret_file = (data / "keys.json").read_text()
        assert all(k["secret"] not in listed.stdout + rotated.stdout
                   for k in json.loads(secret_file)["keys"])  # secrets never printed
        assert (data / "keys.json").stat().st_mode & 0o777 == 0o600

        # The running server signs with the new key from its next request on, and the
        # old token still refreshes (its key still verifies): nobody is cut off.
        _, _, after = post(f"{server.url}/api/credentials", json.dumps(
            {"token": before["token"]}).encode())
        assert kid_of(after["token"]) == new_kid
        assert after["identityId"] == before["identityId"]
    finally:
        server.kill()


def test_keys_refuse_an_exposed_key_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("keys", "rotate", "--data", str(data)).returncode == 0
    (data / "keys.json").chmod(0o644)
    for action in ("list", "rotate"):
        r = run("keys", action, "--data", str(data))
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert r.stderr.startswith("hubbub: error: key file") and "chmod 600" in r.stderr


def test_sfn_through_the_cli(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    listed = run("sfn", "list", "--data", data)
    assert listed.returncode == 0 and listed.stdout.split() == ["STATUS", "STARTED",
                                                                 "STOPPED", "NAME"]
    missing = run("sfn", "describe", "no-such-execution", "--data", data)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    bad = run("sfn", "start", "anything", "--input", "{nope", "--data", data)
    assert bad.returncode == 2 and "--input is not JSON" in bad.stderr
