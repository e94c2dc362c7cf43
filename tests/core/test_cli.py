"""The ``devflow`` command line, run as a real process: JSON output for scripts, and one-line
errors with exit code 2 (never a traceback) when something is wrong."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from typing import TYPE_CHECKING

import psycopg
import pytest

from tests.support import DEVFLOW, ROOT, Server, Servers, Stack, all_events, new_database, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import httpx

UNREACHABLE_DB = "postgresql://postgres@127.0.0.1:1/x"


def devflow(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m services.cli.main`` with only the given ``DEVFLOW_*`` variables set."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
    clean["PYTHONPATH"] = str(ROOT)
    clean.update(env or {})
    return subprocess.run(
        [*DEVFLOW, *args],
        env=clean,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("devflow: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture
def db_env(stack: Stack) -> dict[str, str]:
    return {"DEVFLOW_DATABASE_URL": stack.database_url}


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port that something else is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


# --- projects -------------------------------------------------------------------------------------


def test_project_create_and_list_as_json(tmp_path: Path, db_env: dict[str, str]) -> None:
    created = devflow(
        "project", "create", "--name", "CLI project", "--json", cwd=tmp_path, env=db_env
    )
    assert created.returncode == 0, created.stderr
    project = json.loads(created.stdout)
    assert set(project) == {"id", "name", "token", "secret_key", "created_at"}
    assert project["name"] == "CLI project"
    assert isinstance(project["id"], int)
    assert project["token"].startswith("phc_")
    assert project["secret_key"].startswith("phs_")
    assert project["token"] != project["secret_key"]

    listed = devflow("project", "list", "--json", cwd=tmp_path, env=db_env)
    assert listed.returncode == 0, listed.stderr
    projects = json.loads(listed.stdout)
    assert isinstance(projects, list)
    assert all(set(p) == set(project) for p in projects)
    assert project in projects
    assert [p["id"] for p in projects] == sorted(p["id"] for p in projects)


def test_a_created_project_can_capture_and_read_at_once(
    tmp_path: Path, db_env: dict[str, str], server: Server, http: httpx.Client
) -> None:
    created = devflow("project", "create", "--name", "live", "--json", cwd=tmp_path, env=db_env)
    project = json.loads(created.stdout)
    body = {"api_key": project["token"], "event": "from-cli-project", "distinct_id": "d"}
    assert http.post("/capture", json=body).status_code == 200
    events = wait_for(lambda: all_events(server.url, project["secret_key"]))
    assert [e["event"] for e in events] == ["from-cli-project"]


def test_project_create_and_list_for_humans(tmp_path: Path, db_env: dict[str, str]) -> None:
    created = devflow("project", "create", "--name", "Readable", cwd=tmp_path, env=db_env)
    assert created.returncode == 0, created.stderr
    assert "created project Readable" in created.stdout
    token = next(w for w in created.stdout.split() if w.startswith("phc_"))
    secret = next(w for w in created.stdout.split() if w.startswith("phs_"))
    listed = devflow("project", "list", cwd=tmp_path, env=db_env)
    line = next(li for li in listed.stdout.splitlines() if token in li)
    assert "Readable" in line
    assert secret in line


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_project_create_refuses_a_bad_name(
    tmp_path: Path, db_env: dict[str, str], name: str
) -> None:
    assert_one_line_error(
        devflow("project", "create", "--name", name, cwd=tmp_path, env=db_env), "--name"
    )


# --- clear errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("project", "list", "--json"),
        ("project", "create", "--name", "x", "--json"),
        ("migrate",),
    ],
)
def test_an_unreachable_database_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = devflow(*args, cwd=tmp_path, env={"DEVFLOW_DATABASE_URL": UNREACHABLE_DB})
    assert_one_line_error(result, "cannot reach the database", "127.0.0.1:1")
    assert result.stdout == ""


def test_run_with_an_unreachable_database_is_one_line(tmp_path: Path, stack: Stack) -> None:
    env = {"DEVFLOW_DATABASE_URL": UNREACHABLE_DB, "DEVFLOW_NATS_URL": stack.nats_url}
    assert_one_line_error(
        devflow("run", "ingest", "--port", "1", cwd=tmp_path, env=env), "cannot reach the database"
    )


def test_the_database_password_is_not_printed(tmp_path: Path) -> None:
    env = {"DEVFLOW_DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1:1/x"}
    result = devflow("project", "list", cwd=tmp_path, env=env)
    line = assert_one_line_error(result, "cannot reach the database")
    assert "hunter2" not in line
    assert "***" in line


@pytest.mark.parametrize(
    ("variable", "value", "args"),
    [
        ("DEVFLOW_PORT", "abc", ("project", "list")),
        ("DEVFLOW_PORT", "abc", ("up",)),
        ("DEVFLOW_PORT", "abc", ("migrate",)),
        ("DEVFLOW_LOG_LEVEL", "loud", ("run", "ingest")),
        ("DEVFLOW_WRITER_FETCH_BATCH", "lots", ("project", "create", "--name", "x")),
        ("DEVFLOW_REPLAY_ZSTD_LEVEL", "99", ("up",)),
        ("DEVFLOW_REPLAY_ZSTD_LEVEL", "99", ("run", "replay")),
        ("DEVFLOW_REPLAY_ZSTD_LEVEL", "99", ("run", "ingest")),
        ("DEVFLOW_FLAGS_READ_POOL_MAX", "many", ("migrate",)),
        ("DEVFLOW_EXPERIMENTS_REFRESH_INTERVAL_S", "0", ("project", "list")),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str, args: tuple[str, ...]
) -> None:
    env = {variable: value, "DEVFLOW_DATABASE_URL": UNREACHABLE_DB, "DEVFLOW_NATS_URL": "nats://x"}
    assert_one_line_error(devflow(*args, cwd=tmp_path, env=env), variable)


def test_service_settings_are_not_warned_about(tmp_path: Path) -> None:
    # One line on stderr: the error, and no warning about the (declared, valid) variables.
    env = {
        "DEVFLOW_DATABASE_URL": UNREACHABLE_DB,
        "DEVFLOW_REPLAY_ZSTD_LEVEL": "3",
        "DEVFLOW_WRITER_FETCH_BATCH": "8",
        "DEVFLOW_FLAGS_STREAM_KEEPALIVE_S": "5",
        "DEVFLOW_EXPERIMENTS_REFRESH_INTERVAL_S": "60",
    }
    assert_one_line_error(devflow("project", "list", cwd=tmp_path, env=env), "cannot reach")
    env["DEVFLOW_REPLAY_ZSTD_LEVL"] = "3"
    result = devflow("project", "list", cwd=tmp_path, env=env)
    assert result.returncode == 2
    warning, error = result.stderr.strip().splitlines()
    assert "unknown setting(s) DEVFLOW_REPLAY_ZSTD_LEVL;" in warning
    assert "cannot reach" in error


def test_up_on_a_port_in_use_is_one_line(tmp_path: Path, listening_port: int) -> None:
    # The database URL is a safety net: were the port check to pass, `up` would stop at the
    # (unreachable) database rather than start embedded servers.
    result = devflow(
        "up",
        "--port",
        str(listening_port),
        "--data-dir",
        str(tmp_path / "data"),
        cwd=tmp_path,
        env={"DEVFLOW_DATABASE_URL": UNREACHABLE_DB},
    )
    assert_one_line_error(result, f"port {listening_port}", "in use")


def test_run_on_a_port_in_use_is_one_line(
    tmp_path: Path, stack: Stack, listening_port: int
) -> None:
    env = {"DEVFLOW_DATABASE_URL": stack.database_url, "DEVFLOW_NATS_URL": stack.nats_url}
    result = devflow("run", "ingest", "--port", str(listening_port), cwd=tmp_path, env=env)
    assert_one_line_error(result, f"port {listening_port}", "in use")


def test_run_names_unknown_services(tmp_path: Path, stack: Stack) -> None:
    env = {"DEVFLOW_DATABASE_URL": stack.database_url, "DEVFLOW_NATS_URL": stack.nats_url}
    assert_one_line_error(
        devflow("run", "ingest", "telepathy", cwd=tmp_path, env=env),
        "unknown service telepathy",
        "ingest",
    )


def test_run_needs_both_urls(tmp_path: Path, stack: Stack) -> None:
    assert_one_line_error(
        devflow("run", "ingest", cwd=tmp_path, env={"DEVFLOW_DATABASE_URL": stack.database_url}),
        "DEVFLOW_NATS_URL",
    )


def test_commands_without_a_database_say_how_to_get_one(tmp_path: Path) -> None:
    result = devflow("project", "list", "--data-dir", str(tmp_path / "empty"), cwd=tmp_path)
    assert_one_line_error(result, "devflow up", "DEVFLOW_DATABASE_URL")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    result = devflow("frobnicate", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "usage: devflow" in result.stderr


# --- migrate and schemas --------------------------------------------------------------------------


def test_migrate_applies_then_reports_up_to_date(tmp_path: Path, servers: Servers) -> None:
    env = {"DEVFLOW_DATABASE_URL": new_database(servers.pg_url)}
    first = devflow("migrate", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    applied = first.stdout.splitlines()
    assert applied
    assert applied[0].startswith("applied 0001_")
    second = devflow("migrate", cwd=tmp_path, env=env)
    assert (second.returncode, second.stdout.strip()) == (0, "database is up to date")


def test_a_failing_migration_is_one_line(tmp_path: Path, servers: Servers) -> None:
    url = new_database(servers.pg_url)
    with psycopg.connect(url) as conn:  # a database that already has a conflicting table
        conn.execute("CREATE TABLE projects (id int)")
    assert_one_line_error(devflow("migrate", cwd=tmp_path, env={"DEVFLOW_DATABASE_URL": url}))


def test_schemas_export_writes_the_committed_files(tmp_path: Path) -> None:
    out = tmp_path / "json"
    result = devflow("schemas", "export", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    committed = ROOT / "schemas" / "json"
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(p.name for p in committed.glob("*.json"))
    for name in written:
        fresh, kept = (json.loads((d / name).read_bytes()) for d in (out, committed))
        assert fresh == kept, name
    assert len(result.stdout.splitlines()) == len(written)


def test_run_on_an_unmigrated_database_says_to_migrate(
    tmp_path: Path, stack: Stack, servers: Servers
) -> None:
    env = {"DEVFLOW_DATABASE_URL": new_database(servers.pg_url), "DEVFLOW_NATS_URL": stack.nats_url}
    assert_one_line_error(
        devflow("run", "ingest", cwd=tmp_path, env=env), "devflow migrate", "0001_projects.sql"
    )
