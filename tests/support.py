"""Real PostgreSQL and NATS for the tests, and processes of the platform running against them.

By default the embedded servers (the same wheels ``devflow up`` uses) are started once per test
session; ``DEVFLOW_DATABASE_URL`` / ``DEVFLOW_NATS_URL`` point the suite at external ones instead.
Every :class:`Stack` gets a database of its own, so tests that crash processes don't disturb others.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from services.cli.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.core.migrate import migrate
from services.core.projects import create_project

ROOT = Path(__file__).resolve().parents[1]
# Screenshots of the browser tests (git-ignored).
ARTIFACTS = ROOT / "tests" / "artifacts"
DEVFLOW = [sys.executable, "-m", "services.cli.main"]


def new_database(server_url: str) -> str:
    """Create an empty database on the server at ``server_url`` and return its URL."""
    name = f"devflow_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server_url.rpartition("/")
    query = ""
    if "?" in server_url:
        query = "?" + server_url.split("?", 1)[1]
    return f"{base}/{name}{query}"


def migrated_database(server_url: str) -> str:
    """:func:`new_database` with the project's migrations applied."""
    url = new_database(server_url)
    migrate(url)
    return url


@dataclass
class Process:
    """A ``devflow`` child process with its log file."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                env=self.env,
                stdout=log,
                stderr=log,
                cwd=ROOT,
                start_new_session=True,
            )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@dataclass
class Stack:
    """One database and one NATS (possibly shared), plus the devflow processes started on them."""

    database_url: str
    nats_url: str
    workdir: Path
    processes: list[Process] = field(default_factory=list)
    nats: EmbeddedNats | None = None  # set when the stack owns its NATS (it may be restarted)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
        env.update(
            DEVFLOW_DATABASE_URL=self.database_url,
            DEVFLOW_NATS_URL=self.nats_url,
            DEVFLOW_LOG_LEVEL="INFO",
            PYTHONPATH=str(ROOT),
        )
        env.update(extra)
        return env

    def spawn(self, *args: str, name: str, **extra_env: str) -> Process:
        proc = Process(
            [*DEVFLOW, *args], self.env(**extra_env), self.workdir / f"{name}.log"
        ).start()
        self.processes.append(proc)
        return proc

    def serve(
        self,
        *,
        role: str = "all",
        name: str = "api",
        services: tuple[str, ...] = ("ingest",),
        **extra_env: str,
    ) -> Server:
        port = free_port()
        proc = self.spawn(
            "run", *services, "--role", role, "--port", str(port), name=name, **extra_env
        )
        server = Server(f"http://127.0.0.1:{port}", proc)
        server.wait_ready()
        return server

    def worker(
        self, *, name: str = "worker", services: tuple[str, ...] = ("ingest",), **extra_env: str
    ) -> Process:
        return self.spawn("run", *services, "--role", "worker", name=name, **extra_env)

    def project(self, name: str = "test") -> Any:
        with psycopg.connect(self.database_url) as conn:
            return create_project(conn, name)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.kill(signal.SIGTERM)
        if self.nats is not None:
            self.nats.stop()


@dataclass
class Server:
    url: str
    process: Process

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            proc = self.process.proc
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.process.log()}")
            try:
                if httpx.get(f"{self.url}/_ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout_s}s:\n{self.process.log()}")


class Servers:
    """The session's PostgreSQL server and NATS (embedded unless external URLs are given)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pg: EmbeddedPostgres | None = None
        self._nats: list[EmbeddedNats] = []
        external = os.environ.get("DEVFLOW_DATABASE_URL")
        if external:
            self.pg_url = external
        else:
            self._pg = EmbeddedPostgres(root)
            self.pg_url = self._pg.start()
        self.shared_nats_url = os.environ.get("DEVFLOW_NATS_URL") or self.new_nats().url

    def new_nats(self, port: int = 0) -> EmbeddedNats:
        """A NATS server of its own (its own JetStream store) for tests that stop and restart it."""
        nats = EmbeddedNats(self.root / f"nats-{len(self._nats)}", port=port)
        nats.root.parent.mkdir(parents=True, exist_ok=True)
        nats.start()
        self._nats.append(nats)
        return nats

    def stack(self, workdir: Path, *, own_nats: bool = False) -> Stack:
        database_url = new_database(self.pg_url)
        migrate(database_url)
        workdir.mkdir(parents=True, exist_ok=True)
        nats = self.new_nats() if own_nats else None
        return Stack(database_url, nats.url if nats else self.shared_nats_url, workdir, nats=nats)

    def stop(self) -> None:
        for nats in self._nats:
            nats.stop()
        if self._pg is not None:
            self._pg.stop()


def wait_for(predicate: Any, timeout_s: float = 20.0, interval_s: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s (last value: {value!r})")


async def eventually(check: Callable[[], Awaitable[Any]], timeout_s: float = 30.0) -> Any:
    """Await ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout_s}s (last value: {value!r})")


def all_events(url: str, secret_key: str, **params: Any) -> list[dict[str, Any]]:
    """Every event of the project through the read API, following cursors."""
    out: list[dict[str, Any]] = []
    cursor = None
    headers = {"Authorization": f"Bearer {secret_key}"}
    while True:
        query = {"limit": 1000, **params, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{url}/api/events", params=query, headers=headers, timeout=30).json()
        out.extend(page["results"])
        cursor = page["next_cursor"]
        if not cursor:
            return out


def count_rows(database_url: str, project_id: int) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE project_id = %s", (project_id,))
        return int(row.fetchone()[0])  # type: ignore[index]
