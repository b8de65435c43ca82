"""``hubbub serve`` as a real subprocess on free ports, for CLI, anonymous-policy and
crash tests. Readiness is polled on the HTTP port with a deadline, never a fixed sleep.
Output goes to files (a pipe nobody reads would fill up and stall the server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HUBBUB = str(Path(sys.executable).with_name("hubbub"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class ServerProcess:
    """One ``hubbub serve``; ``start()`` returns once its HTTP port accepts connections."""

    def __init__(self, data: Path, *args: str, port: int | None = None,
                 mqtt_port: int | None = None) -> None:
        self.data = data
        self.args = args
        self.port = port or free_port()
        self.mqtt_port = mqtt_port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [HUBBUB, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--mqtt-port", str(self.mqtt_port), "--data", str(self.data),
                "--log-level", "warning", *self.args]

    def start(self, timeout: float = 30) -> ServerProcess:
        self.runs += 1
        out = (self.data.parent / f"{self.data.name}.out.{self.runs}").open("wb")
        err = (self.data.parent / f"{self.data.name}.err.{self.runs}").open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}
        self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err, env=env)
        out.close()
        err.close()
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None:
                raise AssertionError(f"hubbub serve exited {self.proc.returncode}: "
                                     f"{self.stderr()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"hubbub serve not ready in {timeout}s: {self.stderr()}")
            time.sleep(0.02)  # polling the port with a deadline, not synchronization
        return self

    def stdout(self) -> str:
        return (self.data.parent / f"{self.data.name}.out.{self.runs}").read_text(
            errors="replace")

    def stderr(self) -> str:
        return (self.data.parent / f"{self.data.name}.err.{self.runs}").read_text(
            errors="replace")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
