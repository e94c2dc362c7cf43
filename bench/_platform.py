"""A throwaway DevFlow platform for benchmarks and load tests.

Embedded PostgreSQL and NATS live in a temporary directory, migrations are applied, one project is
created, and the ingest service runs as real ``devflow run`` child processes, exactly as an
operator would start them. Shared by ``bench/ingest.py`` and ``loadtests/run.py``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import nats
import nats.js.errors
import psycopg

from services.cli.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.core.migrate import migrate
from services.core.projects import create_project

if TYPE_CHECKING:
    from types import TracebackType

EVENTS_STREAM = "EVENTS"
WRITER_DURABLE = "events-writer"
ROOT = Path(__file__).resolve().parents[1]
SLOW_STOP_S = 3.0  # a graceful stop slower than this is worth a line in the output

# Which ``--role`` processes each topology runs. "split" gives the HTTP API and the writer a
# process (and so potentially a core) each; "split2" adds a second writer on the same durable
# consumer, as scaling out would; "all" is what `devflow up` does, one process.
TOPOLOGIES: dict[str, tuple[str, ...]] = {
    "split": ("api", "worker"),
    # Two API processes (one per core, as a load balancer would spread them) and a worker.
    "api2": ("api", "api", "worker"),
    "split2": ("api", "worker", "worker"),
    "all": ("all",),
}


@dataclass
class Child:
    """One ``devflow run ingest`` process and the log it writes."""

    name: str
    role: str
    log_path: Path
    proc: subprocess.Popen[bytes]
    url: str | None = None

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # graceful: consumers ack what they committed
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Platform:
    """Start with ``with Platform(...) as p:``; everything is stopped and deleted on exit."""

    topology: str = "split"
    keep: bool = False
    # The services every process runs (`devflow run <services>`).
    services: tuple[str, ...] = ("ingest",)
    extra_env: dict[str, str] = field(default_factory=dict)
    workdir: Path = field(init=False)
    database_url: str = field(init=False, default="")
    nats_url: str = field(init=False, default="")
    project_id: int = field(init=False, default=0)
    token: str = field(init=False, default="")
    secret_key: str = field(init=False, default="")
    children: list[Child] = field(init=False, default_factory=list)
    pg: EmbeddedPostgres | None = field(init=False, default=None)
    nats: EmbeddedNats | None = field(init=False, default=None)

    def __enter__(self) -> Platform:
        if self.topology not in TOPOLOGIES:
            raise ValueError(f"topology must be one of {', '.join(TOPOLOGIES)}")
        self.workdir = Path(tempfile.mkdtemp(prefix="devflow-bench-"))
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The application goes first so nothing acknowledged is in flight when the servers stop.
        stops = [(c.name, c.stop) for c in reversed(self.children)]
        if self.nats is not None:
            stops.append(("nats", self.nats.stop))
        if self.pg is not None:
            stops.append(("postgres", self.pg.stop))
        for name, stop in stops:
            started = time.monotonic()
            stop()
            if (took := time.monotonic() - started) > SLOW_STOP_S:
                print(f"note: {name} took {took:.1f}s to stop", file=sys.stderr, flush=True)
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def url(self) -> str:
        """The base URL of the HTTP API."""
        return next(c.url for c in self.children if c.url is not None)

    @property
    def urls(self) -> list[str]:
        """Every HTTP API process's base URL."""
        return [c.url for c in self.children if c.url is not None]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def pids(self) -> dict[str, int]:
        """Process ids by component name, for CPU accounting and py-spy."""
        out = {c.name: c.proc.pid for c in self.children}
        if self.pg is not None and self.pg.proc is not None:
            out["postgres"] = self.pg.proc.pid
        if self.nats is not None and self.nats.proc is not None:
            out["nats"] = self.nats.proc.pid
        return out

    def wait_drained(self, timeout_s: float) -> bool:
        """Wait until the writer has committed (and acked) every event the API published."""
        return asyncio.run(_wait_drained(self.nats_url, timeout_s))

    def count_events(self) -> int:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM events WHERE project_id = %s", (self.project_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def _start(self) -> None:
        self.pg = EmbeddedPostgres(self.workdir)
        self.database_url = self.pg.start()
        self.nats = EmbeddedNats(self.workdir)
        self.nats_url = self.nats.start()
        migrate(self.database_url)
        with psycopg.connect(self.database_url) as conn:
            project = create_project(conn, "benchmark")
        self.project_id, self.token = project.id, project.token
        self.secret_key = project.secret_key
        for role in TOPOLOGIES[self.topology]:
            same = sum(c.role == role for c in self.children)
            self.children.append(self._spawn(role, f"{role}-{same + 1}" if same else role))
        for child in self.children:
            self._wait_ready(child)

    def _spawn(self, role: str, name: str) -> Child:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
        env.update(
            DEVFLOW_DATABASE_URL=self.database_url,
            DEVFLOW_NATS_URL=self.nats_url,
            DEVFLOW_LOG_LEVEL="WARNING",
            **self.extra_env,
        )
        args = [sys.executable, "-m", "services.cli.main", "run", *self.services, "--role", role]
        url = None
        if role != "worker":
            port = free_port()
            args += ["--port", str(port)]
            url = f"http://127.0.0.1:{port}"
        log_path = self.workdir / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                args, env=env, stdout=log, stderr=log, cwd=ROOT, start_new_session=True
            )
        return Child(name, role, log_path, proc, url)

    def _wait_ready(self, child: Child, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if child.proc.poll() is not None:
                raise RuntimeError(f"{child.name} process exited:\n{child.log_tail()}")
            if self._is_ready(child):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{child.name} not ready after {timeout_s:.0f}s:\n{child.log_tail()}")

    def _is_ready(self, child: Child) -> bool:
        if child.url is not None:
            try:
                return httpx.get(f"{child.url}/_ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        # A worker has no HTTP. It creates the day partitions before it starts its consumer, and
        # each fetching worker keeps a pull request waiting on the writer's durable consumer.
        workers = sum(c.role == "worker" for c in self.children[: self.children.index(child) + 1])
        return asyncio.run(_writers_fetching(self.nats_url, workers))


async def _writers_fetching(nats_url: str, workers: int) -> bool:
    nc = await nats.connect(nats_url, connect_timeout=2)
    try:
        info = await nc.jetstream().consumer_info(EVENTS_STREAM, WRITER_DURABLE)
    except nats.js.errors.NotFoundError:
        return False
    finally:
        await nc.close()
    return bool(info.num_waiting >= workers)


async def _wait_drained(nats_url: str, timeout_s: float) -> bool:
    nc = await nats.connect(nats_url, connect_timeout=2)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = await nc.jetstream().consumer_info(EVENTS_STREAM, WRITER_DURABLE)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return True
            await asyncio.sleep(0.05)
        return False
    finally:
        await nc.close()
