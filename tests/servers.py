"""Real Redis and PostgreSQL servers for tests: started in a temp dir on a free loopback port.

Plain functions (no pytest import) so that any test folder, benchmark or script can use
them. Readiness is polled against a deadline, never slept for. Missing binaries raise
``ServerUnavailable`` (fixtures turn it into a skip).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


class ServerUnavailable(Exception):
    """The server's binary is not installed or it would not start."""


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    workdir: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(ready: Callable[[], bool], *, deadline_s: float, proc: subprocess.Popen[bytes],
               what: str) -> None:
    """Poll ``ready`` until it is true; fail if the process dies or the deadline passes."""
    end = time.monotonic() + deadline_s
    delay = 0.005
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise ServerUnavailable(f"{what} exited with {proc.returncode}")
        if ready():
            return
        # A short, growing back-off between polls: not a synchronisation sleep.
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    raise ServerUnavailable(f"{what} not ready after {deadline_s} s")


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- Redis -------------------------------------------------------------------------------


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server() -> Iterator[Server]:
    """A throwaway redis-server; yields its ``redis://`` URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable("redis-server is not installed")
    with tempfile.TemporaryDirectory(prefix="hubbub-redis-") as tmp:
        port = free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
             "--save", "", "--appendonly", "no", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: _redis_ping(port), deadline_s=10, proc=proc, what="redis-server")
            yield Server(f"redis://127.0.0.1:{port}/0", proc, Path(tmp))
        finally:
            _stop(proc, signal.SIGTERM)


# --- PostgreSQL --------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "initdb")):
            return Path(d)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _pg_ready(port: int, sockdir: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             connect_timeout=1):
            return True
    except psycopg.OperationalError:
        return False


@contextlib.contextmanager
def postgres_server() -> Iterator[Server]:
    """A throwaway PostgreSQL cluster (initdb + postgres); yields a libpq URL.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres``
    system user that the Debian package creates.
    """
    bindir = postgres_bindir()
    if bindir is None:
        raise ServerUnavailable("PostgreSQL (initdb) is not installed")
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise ServerUnavailable("running as root and no 'postgres' user exists") from None
        user = "postgres"
    with tempfile.TemporaryDirectory(prefix="hubbub-pg-") as tmp:
        if user is not None:
            os.chmod(tmp, 0o755)
            shutil.chown(tmp, user)
        data = os.path.join(tmp, "data")
        init = subprocess.run(
            [str(bindir / "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            user=user, capture_output=True)
        if init.returncode != 0:
            raise ServerUnavailable(f"initdb failed: {init.stderr.decode(errors='replace')}")
        port = free_port()
        proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", data, "-p", str(port), "-k", tmp,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "full_page_writes=off", "-c", "max_connections=50"],
            user=user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: _pg_ready(port, tmp), deadline_s=30, proc=proc,
                       what="postgres")
            yield Server(f"postgresql://postgres@127.0.0.1:{port}/postgres", proc, Path(tmp))
        finally:
            _stop(proc, signal.SIGINT)  # "fast" shutdown
