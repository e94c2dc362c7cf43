"""``devflow``: the platform's command line. Errors are printed as one line, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import psycopg

from services.cli import billing, churn, embedded, registry, runstate, serving
from services.core.db import check_reachable_sync
from services.core.errors import ConfigError, DevflowError, StartupError
from services.core.migrate import migrate, pending
from services.core.projects import create_project, list_projects
from services.core.settings import Settings, read_all

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from schemas.api import ProjectOut
    from services.core.service import Service

DEFAULT_PROJECT = "Default project"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``devflow`` with ``argv``; returns the exit status (2 for a platform error)."""
    args = _parser().parse_args(argv)
    serving.sigterm_like_ctrl_c()
    try:
        return int(args.func(args) or 0)
    except DevflowError as exc:
        print(f"devflow: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="devflow", description="DevFlow Analytics")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run every service on embedded PostgreSQL and NATS")
    up.add_argument("--port", type=int, default=None, help="HTTP port (default 8000)")
    up.add_argument("--host", default=None, help="HTTP address (default 127.0.0.1)")
    up.add_argument("--data-dir", default=None, help="where data lives (default .devflow)")
    up.set_defaults(func=cmd_up)

    run = sub.add_parser("run", help="run some services against external PostgreSQL and NATS")
    run.add_argument("services", nargs="+", metavar="SERVICE", help=", ".join(registry.AVAILABLE))
    run.add_argument("--port", type=int, default=None)
    run.add_argument("--host", default=None)
    run.add_argument(
        "--role",
        choices=["all", "api", "worker"],
        default="all",
        help=(
            "api: HTTP API only; worker: NATS consumers only (with --port, it also serves "
            "/_health, /_ready and /metrics); all: both (default)"
        ),
    )
    run.set_defaults(func=cmd_run)

    mig = sub.add_parser("migrate", help="apply pending database migrations")
    mig.add_argument("--data-dir", default=None)
    mig.set_defaults(func=cmd_migrate)

    project = sub.add_parser("project", help="create and list projects")
    psub = project.add_subparsers(required=True, metavar="ACTION")
    create = psub.add_parser("create", help="create a project and print its keys")
    create.add_argument("--name", required=True)
    create.add_argument("--json", action="store_true")
    create.add_argument("--data-dir", default=None)
    create.set_defaults(func=cmd_project_create)
    lst = psub.add_parser("list", help="list projects with their keys")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--data-dir", default=None)
    lst.set_defaults(func=cmd_project_list)

    rebuild = sub.add_parser(
        "rebuild", help="recompute a projection from its log; reports what differed"
    )
    rebuild.add_argument("projection", choices=sorted(registry.REBUILDABLE))
    rebuild.add_argument("--project", type=int, default=None, help="one project (default all)")
    rebuild.add_argument(
        "--check", action="store_true", help="only compare; exit 1 when the live state differs"
    )
    rebuild.add_argument("--data-dir", default=None)
    rebuild.set_defaults(func=cmd_rebuild)

    demo = sub.add_parser("demo", help="seed demo data through the public APIs")
    dsub = demo.add_subparsers(required=True, metavar="WHAT")
    demo_exp = dsub.add_parser(
        "experiment", help="a realistic experiment with two weeks of data (needs devflow up)"
    )
    demo_exp.add_argument("--people", type=int, default=3000, help="exposed people (default 3000)")
    demo_exp.add_argument("--url", default=None, help="platform URL (default: the running up)")
    demo_exp.add_argument(
        "--project", type=int, default=None, help="project id (default: the default project)"
    )
    demo_exp.add_argument("--data-dir", default=None)
    demo_exp.set_defaults(func=cmd_demo_experiment)

    billing.add_parser(sub, platform_project=_platform_project, database=_database)
    churn.add_parser(sub)

    schemas = sub.add_parser("schemas", help="wire contracts")
    ssub = schemas.add_subparsers(required=True, metavar="ACTION")
    export = ssub.add_parser("export", help="write JSON Schema files for the wire contracts")
    export.add_argument("--out", default=None, help="directory (default schemas/json)")
    export.set_defaults(func=cmd_schemas_export)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    """The kernel's settings; every service's are checked too, so a bad value of any is one
    line and exit 2 whatever the command."""
    declared = registry.settings_classes()
    settings = Settings.from_env(
        declared=declared,
        port=getattr(args, "port", None),
        host=getattr(args, "host", None),
        data_dir=getattr(args, "data_dir", None),
    )
    read_all(declared)
    return settings


def _configs(services: Sequence[Service]) -> dict[type[msgspec.Struct], msgspec.Struct]:
    return read_all(s.settings for s in services if s.settings is not None)


def cmd_up(args: argparse.Namespace) -> int:
    """``devflow up``: migrate and serve every service; embedded PostgreSQL and NATS unless set."""
    settings = _settings(args)
    billing.use_local_key(settings.data_path)
    services = registry.load(list(registry.AVAILABLE))
    configs = _configs(services)
    started = time.monotonic()
    if embedded.port_in_use(settings.host, settings.port):
        raise StartupError(
            f"port {settings.port} on {settings.host} is in use; stop what uses it or pass --port"
        )
    data_dir = settings.data_path
    data_dir.mkdir(parents=True, exist_ok=True)
    if runstate.read(data_dir) is not None:
        raise StartupError(f"devflow up is already running for {data_dir}")
    print(f"DevFlow Analytics starting (data in {data_dir})", flush=True)
    with _servers(settings, data_dir, started) as (db_url, nats_url):
        serving.progress("applying migrations", started)
        applied = migrate(db_url)
        if applied:
            serving.progress(f"applied {len(applied)} migration(s)", started)
        with psycopg.connect(db_url) as conn:
            projects = list_projects(conn)
            if not projects:
                projects = [create_project(conn, DEFAULT_PROJECT)]
                serving.progress("created the default project", started)
        settings = msgspec.structs.replace(settings, database_url=db_url, nats_url=nats_url)
        http_url = f"http://{settings.host}:{settings.port}"
        runstate.write(data_dir, runstate.RunState(os.getpid(), db_url, nats_url, http_url))
        try:
            first = projects[0]
            print(
                f"\n  Project      {first.name} (id {first.id})\n"
                f"  Token        {first.token}\n"
                f"  Secret key   {first.secret_key}\n"
                f"  URL          {http_url}\n",
                flush=True,
            )
            serving.serve(settings, services, configs, "all", started)
        finally:
            runstate.clear(data_dir)
    print("DevFlow Analytics stopped.", flush=True)
    return 0


@contextlib.contextmanager
def _servers(settings: Settings, data_dir: Path, started: float) -> Iterator[tuple[str, str]]:
    pg = nats = None
    try:
        db_url = settings.database_url
        if db_url is None:
            serving.progress("starting embedded PostgreSQL", started)
            pg = embedded.EmbeddedPostgres(data_dir)
            db_url = pg.start()
        else:
            check_reachable_sync(db_url)
        nats_url = settings.nats_url
        if nats_url is None:
            serving.progress("starting embedded NATS with JetStream", started)
            nats = embedded.EmbeddedNats(data_dir)
            nats_url = nats.start()
        yield db_url, nats_url
    finally:
        # Stop order matters: the app is already down, so nothing acknowledged is in flight.
        if nats is not None:
            nats.stop()
        if pg is not None:
            pg.stop()


def cmd_run(args: argparse.Namespace) -> int:
    """``devflow run``: the named services against external, migrated PostgreSQL and NATS."""
    settings = _settings(args)
    if not settings.database_url or not settings.nats_url:
        raise ConfigError("devflow run needs DEVFLOW_DATABASE_URL and DEVFLOW_NATS_URL")
    services = registry.load(args.services)
    configs = _configs(services)
    check_reachable_sync(settings.database_url)
    waiting = pending(settings.database_url)
    if waiting:
        raise StartupError(
            f"the database lacks {len(waiting)} migration(s) ({', '.join(waiting)}): "
            "run `devflow migrate` first"
        )
    started = time.monotonic()
    if args.role == "worker" and args.port is None:
        serving.run_headless(settings, services, configs)
        return 0
    if embedded.port_in_use(settings.host, settings.port):
        raise StartupError(f"port {settings.port} on {settings.host} is in use; pass --port")
    serving.serve(settings, services, configs, args.role, started)
    return 0


@contextlib.contextmanager
def _database(args: argparse.Namespace) -> Iterator[str]:
    """The database of DEVFLOW_DATABASE_URL, of the running `devflow up`, or a temporary one."""
    settings = _settings(args)
    if settings.database_url:
        check_reachable_sync(settings.database_url)
        yield settings.database_url
        return
    state = runstate.read(settings.data_path)
    if state is not None:
        yield state.database_url
        return
    if not (settings.data_path / "postgres" / "PG_VERSION").exists():
        raise StartupError(
            f"no database in {settings.data_path}: run `devflow up` first "
            "or set DEVFLOW_DATABASE_URL"
        )
    pg = embedded.EmbeddedPostgres(settings.data_path)
    try:
        yield pg.start()
    finally:
        pg.stop()


def cmd_migrate(args: argparse.Namespace) -> int:
    """``devflow migrate``: apply the pending migrations and name them."""
    with _database(args) as url:
        applied = migrate(url)
    print("\n".join(f"applied {name}" for name in applied) or "database is up to date")
    return 0


def cmd_project_create(args: argparse.Namespace) -> int:
    """``devflow project create``: create a project and print its token and key."""
    name = args.name.strip()
    if not 1 <= len(name) <= 200:
        raise ConfigError("--name must be 1 to 200 characters")
    with _database(args) as url, psycopg.connect(url) as conn:
        project = create_project(conn, name)
    if args.json:
        print(msgspec.json.encode(project).decode())
    else:
        print(f"created project {project.name} (id {project.id})")
        print(f"  token       {project.token}\n  secret key  {project.secret_key}")
    return 0


def cmd_project_list(args: argparse.Namespace) -> int:
    """``devflow project list``: every project with its token and secret key."""
    with _database(args) as url, psycopg.connect(url) as conn:
        projects = list_projects(conn)
    if args.json:
        print(msgspec.json.encode(projects).decode())
        return 0
    for p in projects:
        print(f"{p.id:>4}  {p.name:<30}  token {p.token}  secret {p.secret_key}")
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    """``devflow rebuild``: recompute a projection from its log; 1 when ``--check`` differs."""
    module = importlib.import_module(registry.REBUILDABLE[args.projection])

    async def run(url: str) -> Any:
        """Rebuild (or only compare) on one connection to ``url``."""
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await module.rebuild(conn, args.project, apply=not args.check)

    with _database(args) as url:
        report = asyncio.run(run(url))
    for name in report.differences:
        print(f"{'differs' if args.check else 'rebuilt'}: {name}")
    verdict = "equals" if not report.differences else "differed from"
    rows = getattr(report, "rows", getattr(report, "flags", 0))  # flags' report says "flags"
    print(f"{args.projection}: {rows} rows; the live projection {verdict} the log")
    return 1 if args.check and report.differences else 0


def _platform_project(args: argparse.Namespace) -> tuple[str, ProjectOut]:
    """The running platform's URL and the project ``--project`` names (default project)."""
    settings = _settings(args)
    state = runstate.read(settings.data_path)
    url = args.url or (state.http_url if state else None)
    if url is None:
        raise StartupError("no running `devflow up` found; start it (make run) or pass --url")
    with _database(args) as db, psycopg.connect(db) as conn:
        projects = list_projects(conn)
    project = next(
        (
            p
            for p in projects
            if (p.id == args.project if args.project else p.name == DEFAULT_PROJECT)
        ),
        None,
    )
    if project is None:
        raise StartupError(
            f"no project {args.project}" if args.project else "no default project: pass --project"
        )
    return url, project


def cmd_demo_experiment(args: argparse.Namespace) -> int:
    """``devflow demo experiment``: seed an experiment through a running platform."""
    from services.cli import demo

    if not 10 <= args.people <= 1_000_000:
        raise ConfigError("--people must be between 10 and 1,000,000")
    url, project = _platform_project(args)
    experiment_id = demo.seed(url, project.token, project.secret_key, args.people)
    print(
        f"experiment {experiment_id} in project {project.name!r}: {url}/experiments/{experiment_id}"
    )
    return 0


def cmd_schemas_export(args: argparse.Namespace) -> int:
    """``devflow schemas export``: write the wire contracts as JSON Schema files."""
    from schemas.export import DEFAULT_DIR, export

    for path in export(Path(args.out) if args.out else DEFAULT_DIR):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
