"""Start and stop the brokers under test on free loopback ports.

Each broker gets a TCP listener and a WebSocket listener. ``hubbub_command`` is the one
place to adjust when hubbub's CLI changes.
"""

from __future__ import annotations

import json
import os
import re
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


def hubbub_command(
    tcp_port: int,
    ws_port: int,
    data_dir: Path,
    anonymous_policy: str = "allow-all",
    extra: tuple[str, ...] = (),
) -> list[str]:
    """How to launch hubbub: the plain ``hubbub serve`` CLI, anonymous, with IoT Core's
    100 publishes/s per connection limit off (the other brokers have no such limit).
    ``anonymous_policy`` and ``extra`` are for the variants (see ``hubbub_variant``)."""
    # fmt: off
    return [
        sys.executable, "-m", "hubbub.cli", "serve",
        "--host", "127.0.0.1",
        "--port", str(ws_port),              # HTTP + MQTT over WebSocket at /mqtt
        "--mqtt-port", str(tcp_port),        # MQTT over TCP
        "--data", str(data_dir),
        "--anonymous-policy", anonymous_policy,  # no tokens: the others allow anonymous
        "--publish-rate", "0",               # no per-connection publish limit
        "--log-level", "warning",            # like the Mosquitto config: warnings and errors
        *extra,
    ]
    # fmt: on


def bench_policy() -> dict[str, object]:
    """An anonymous policy allowing exactly what the pub/sub scenarios do, so every
    CONNECT, publish, subscribe and delivery is evaluated (issue 3's "policies on"):
    publish, subscribe and receive on ``bench/*`` (fan-out, chat) and ``chat/*`` (the chat
    scenarios), any client id. Wildcards as in docs/security.md: ``*`` spans ``/``."""
    arn = "arn:aws:iot:*:*:"
    topics = [f"{arn}topic/bench/*", f"{arn}topic/chat/*"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{arn}client/*"},
            {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": topics},
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": [f"{arn}topicfilter/bench/*", f"{arn}topicfilter/chat/*"],
            },
        ],
    }


#: hubbub variants, compared with each other in one run: ``hubbub+policy`` (the policy
#: above instead of allow-all), ``hubbub+allowall`` (plain hubbub under another name, so
#: the "policies off" side does not overwrite the broker table's ``hubbub`` results),
#: ``hubbub+memtable`` (``--table-engine memory``: no durable commit),
#: ``hubbub+window<N>`` (the stream consumers' batching window, ms),
#: ``hubbub+before`` (the source tree in ``$HUBBUB_BEFORE_SRC``, e.g. a ``git archive`` of
#: an earlier commit, so that before and after a change run side by side in one run),
#: ``hubbub+uvloop`` (the same CLI on uvloop's event loop, also for ``+before`` trees that
#: predate ``--event-loop``), ``hubbub+asyncio`` (``--event-loop asyncio``, the default:
#: for A/B runs).
VARIANT = re.compile(
    r"^hubbub((?:\+(?:policy|allowall|memtable|window\d+|before|uvloop|asyncio))*)$")
#: ``python -c`` for ``hubbub+uvloop``: hubbub's own CLI, on uvloop's loop.
UVLOOP_MAIN = ("import asyncio, sys, uvloop; asyncio.set_event_loop_policy("
               "uvloop.EventLoopPolicy()); from hubbub.cli import main; sys.exit(main())")


def hubbub_variant(name: str, tcp_port: int, ws_port: int, workdir: Path) -> list[str]:
    match = VARIANT.match(name)
    if match is None:
        raise BrokerError(
            f"unknown hubbub variant {name!r} (+policy, +allowall, +memtable, +window<ms>, "
            "+before, +uvloop, +asyncio)"
        )
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    policy, extra = "allow-all", []
    prefix: list[str] = []
    on_uvloop = False
    for option in filter(None, match.group(1).split("+")):
        if option == "before":
            src = os.environ.get("HUBBUB_BEFORE_SRC", "")
            if not (Path(src) / "hubbub" / "cli.py").exists():
                raise BrokerError("hubbub+before needs HUBBUB_BEFORE_SRC=<a src/ folder with "
                                  "hubbub/>, e.g. from `git archive <commit> src`")
            # env(1) execs python: the broker's pid (measured by the probe) stays the same.
            prefix = ["/usr/bin/env", f"PYTHONPATH={src}:{ROOT}"]
        elif option == "uvloop":
            on_uvloop = True
        elif option == "policy":
            path = workdir / "bench-policy.json"  # the file name is the policy's name
            path.write_text(json.dumps(bench_policy(), indent=1))
            policy = str(path)
        elif option == "allowall":
            pass  # the default
        elif option == "asyncio":
            extra += ["--event-loop", "asyncio"]
        elif option == "memtable":
            extra += ["--table-engine", "memory"]
        else:
            config = workdir / "hubbub.toml"
            config.write_text(f"[app]\nstreamBatchingWindowMs = {int(option[6:])}\n")
            extra += ["--config", str(config)]
    argv = hubbub_command(tcp_port, ws_port, data, policy, tuple(extra))
    if on_uvloop:  # [python, -m, hubbub.cli, serve, ...] -> [python, -c, UVLOOP_MAIN, serve, ...]
        argv[1:3] = ["-c", UVLOOP_MAIN]
    return prefix + argv


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
    if name.startswith("hubbub"):
        return hubbub_variant(name, tcp_port, ws_port, workdir), HUBBUB_WS_PATH
    raise BrokerError(f"unknown broker {name!r} (known: hubbub[+variant], mosquitto, amqtt)")


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
