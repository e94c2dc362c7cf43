"""Create the gbstats venv on first use and run the oracle script in it.

gbstats 0.8.0 pins numpy<2 and pandas<2, which the project cannot share, so the oracle lives in
``.cache/gbstats-venv`` with the pins of ``requirements.txt``. It is built once (about half a
minute with a network connection to PyPI) and rebuilt when the requirements change; a lock
keeps concurrent test processes from building it twice.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
VENV = ROOT / ".cache" / "gbstats-venv"
REQUIREMENTS = HERE / "requirements.txt"
SCRIPT = HERE / "gbstats_oracle.py"
PYTHON = VENV / "bin" / "python"
# Written last, holding the requirements it was built from: a venv without it is incomplete.
MARKER = VENV / ".requirements"


def ensure_venv() -> Path:
    """The oracle venv's interpreter, building the venv first if needed."""
    wanted = REQUIREMENTS.read_text()
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with (VENV.parent / "gbstats-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if MARKER.exists() and MARKER.read_text() == wanted:
            return PYTHON
        shutil.rmtree(VENV, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(VENV)])
        pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run([*pip, "-r", str(REQUIREMENTS)])
        MARKER.write_text(wanted)
    return PYTHON


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"building the gbstats oracle venv failed: {' '.join(command)}\n{done.stderr[-4000:]}"
        )


def run_oracle(python: Path, batch: dict[str, Any]) -> dict[str, Any]:
    """Send a batch of cases to gbstats and return its answers (see gbstats_oracle.py)."""
    done = subprocess.run(
        [str(python), str(SCRIPT)],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the gbstats oracle failed:\n{done.stderr[-4000:]}")
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer
