"""`devflow up` end to end: first start, capture, Ctrl-C, restart on the same data."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import uuid
from pathlib import Path

import httpx

from services.cli.embedded import free_port
from tests.support import DEVFLOW, ROOT, all_events, wait_for


def _up(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
    env["PYTHONPATH"] = str(ROOT)
    with log.open("ab") as out:
        return subprocess.Popen(
            [*DEVFLOW, "up", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    def ready() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            return httpx.get(f"{url}/_ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, 60)


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> int:
    proc.send_signal(sig)  # SIGINT is what Ctrl-C sends
    return proc.wait(timeout=60)


def _leftovers(data_dir: Path) -> str:
    found = subprocess.run(
        ["pgrep", "-f", str(data_dir)], capture_output=True, text=True, check=False
    )
    return found.stdout.strip()


def test_up_prints_keys_survives_ctrl_c_and_keeps_data(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "up.log"
    proc = _up(data_dir, port, log)
    _wait_ready(url, proc, log)
    text = log.read_text()
    token = re.search(r"Token\s+(\S+)", text)
    secret = re.search(r"Secret key\s+(\S+)", text)
    assert token, text
    assert secret, text
    assert url in text

    listed = subprocess.run(
        [*DEVFLOW, "project", "list", "--json", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    projects = json.loads(listed.stdout)
    assert [p["token"] for p in projects] == [token.group(1)]
    assert {"id", "name", "token", "secret_key"} <= set(projects[0])

    ids = [str(uuid.uuid4()) for _ in range(200)]
    for chunk in range(0, 200, 50):
        body = {
            "api_key": token.group(1),
            "batch": [
                {"event": "e", "distinct_id": "d", "uuid": u} for u in ids[chunk : chunk + 50]
            ],
        }
        assert httpx.post(f"{url}/batch/", json=body).status_code == 200
    # Stop right away: acknowledged events still in the broker must survive the restart.
    assert _stop(proc) == 0
    assert "stopped" in log.read_text()
    assert not (data_dir / "runtime.json").exists()

    proc = _up(data_dir, port, log)
    try:
        _wait_ready(url, proc, log)
        events = wait_for(
            lambda: (e := all_events(url, secret.group(1))) and len(e) >= 200 and e, 30
        )
        assert sorted(e["uuid"] for e in events) == sorted(ids)
        # The restart reused the project instead of creating another one.
        assert log.read_text().count("created the default project") == 1
    finally:
        assert _stop(proc) == 0
    assert _leftovers(data_dir) == "", "embedded servers still running after Ctrl-C"


def test_sigterm_stops_up_and_the_servers_it_started(tmp_path: Path) -> None:
    # What Docker, systemd and Kubernetes send: the same clean stop as Ctrl-C.
    data_dir, port = tmp_path / "data", free_port()
    log = tmp_path / "up.log"
    proc = _up(data_dir, port, log)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc, log)
        assert _leftovers(data_dir) != ""  # the embedded servers run under the data directory
    finally:
        assert _stop(proc, signal.SIGTERM) == 0, log.read_text()
    assert "stopped" in log.read_text()
    assert not (data_dir / "runtime.json").exists()
    assert _leftovers(data_dir) == "", "embedded servers still running after SIGTERM"
