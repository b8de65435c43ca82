"""Start and stop the brokers under test on free loopback ports.

Each broker gets a TCP listener and a WebSocket listener. ``hubbub_command`` is the one
place to adjust when hubbub's CLI changes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MOSQUITTO = "/usr/sbin/mosquitto"
HUBBUB_WS_PATH = "/mqtt"


class BrokerError(RuntimeError):
    """A broker could not be started (missing binary, crashed, never listened)."""


def hubbub_command(tcp_port: int, ws_port: int, data_dir: Path) -> list[str]:
    """How to launch hubbub: the plain ``hubbub serve`` CLI, anonymous, with IoT Core's
    100 publishes/s per connection limit off (the other brokers have no such limit)."""
    # fmt: off
    return [
        sys.executable, "-m", "hubbub.cli", "serve",
        "--host", "127.0.0.1",
        "--port", str(ws_port),              # HTTP + MQTT over WebSocket at /mqtt
        "--mqtt-port", str(tcp_port),        # MQTT over TCP
        "--data", str(data_dir),
        "--anonymous-policy", "allow-all",   # no tokens: the other brokers allow anonymous
        "--publish-rate", "0",               # no per-connection publish limit
        "--log-level", "warning",            # like the Mosquitto config: warnings and errors
    ]
    # fmt: on


def mosquitto_config(tcp_port: int, ws_port: int) -> str:
    # set_tcp_nodelay: hubbub (asyncio) and amqtt disable Nagle on every socket; without it
    # Mosquitto's latency would include Nagle/delayed-ACK pauses, not its own work.
    return (
        f"listener {tcp_port} 127.0.0.1\nprotocol mqtt\n"
        f"listener {ws_port} 127.0.0.1\nprotocol websockets\n"
        "allow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
        "log_dest stderr\nlog_type error\nlog_type warning\n"
    )


def amqtt_config(tcp_port: int, ws_port: int) -> str:
    # Only the anonymous-auth plugin: the default logging and $SYS plugins cost CPU that
    # the other brokers do not spend (Mosquitto logs errors only, hubbub has no $SYS).
    return (
        "listeners:\n"
        f"  default:\n    type: tcp\n    bind: 127.0.0.1:{tcp_port}\n"
        f"  ws:\n    type: ws\n    bind: 127.0.0.1:{ws_port}\n"
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    )


RT_PRIORITY = 10  # SCHED_RR priority for broker and generator, when permitted (root)
NICE = -10  # fallback when real-time scheduling is refused


def boost() -> str:
    """Raise this process's scheduling priority so other work on a shared machine does not
    sit between the broker and the generator: SCHED_RR if allowed (the kernel's RT
    throttling still leaves others 5% of each second), else nice -10, else nothing.
    Returns what was applied, for the report."""
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(RT_PRIORITY))
        return f"SCHED_RR {RT_PRIORITY}"
    except (OSError, AttributeError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)
        return f"nice {NICE}"
    except OSError:
        return "normal"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    name: str
    proc: subprocess.Popen[bytes]
    tcp_port: int
    ws_port: int
    ws_path: str
    workdir: Path
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid


def command_for(name: str, tcp_port: int, ws_port: int, workdir: Path) -> tuple[list[str], str]:
    """(argv, WebSocket path) for a broker name."""
    if name == "mosquitto":
        conf = workdir / "mosquitto.conf"
        conf.write_text(mosquitto_config(tcp_port, ws_port))
        return [MOSQUITTO, "-c", str(conf)], "/mqtt"
    if name == "amqtt":
        conf = workdir / "amqtt.yaml"
        conf.write_text(amqtt_config(tcp_port, ws_port))
        return [str(VENV_BIN / "amqtt"), "-c", str(conf)], "/mqtt"
    if name == "hubbub":
        data = workdir / "data"
        data.mkdir(exist_ok=True)
        return hubbub_command(tcp_port, ws_port, data), HUBBUB_WS_PATH
    raise BrokerError(f"unknown broker {name!r} (known: hubbub, mosquitto, amqtt)")


def start(name: str, cpu: int | None, timeout: float = 20.0) -> Running:
    tcp_port, ws_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    argv, ws_path = command_for(name, tcp_port, ws_port, workdir)
    if not Path(argv[0]).exists():
        raise BrokerError(f"{name}: {argv[0]} not found")
    log = workdir / "broker.log"

    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        boost()

    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),  # the bench package runs from here
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=pin,
            cwd=workdir,
            start_new_session=True,
        )
    running = Running(name, proc, tcp_port, ws_port, ws_path, workdir, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop(running, keep=True)
            raise BrokerError(f"{name} exited with {proc.returncode}: {tail(log)}")
        if _listening(tcp_port) and _listening(ws_port):
            return running
        time.sleep(0.05)
    stop(running, keep=True)
    raise BrokerError(f"{name} did not listen on {tcp_port}/{ws_port} in {timeout}s: {tail(log)}")


def stop(running: Running, keep: bool = False) -> None:
    """SIGTERM, then SIGKILL after 5 s; removes the work directory unless ``keep``."""
    if running.proc.poll() is None:
        running.proc.send_signal(signal.SIGTERM)
        try:
            running.proc.wait(5.0)
        except subprocess.TimeoutExpired:
            running.proc.kill()
            running.proc.wait(5.0)
    if not keep:
        shutil.rmtree(running.workdir, ignore_errors=True)


def tail(path: Path, n: int = 600) -> str:
    try:
        return path.read_text(errors="replace")[-n:].strip()
    except OSError:
        return ""


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
