"""``.devflow/runtime.json``: how other ``devflow`` commands reach a running ``devflow up``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from pathlib import Path


class RunState(msgspec.Struct, frozen=True):
    """How to reach a running ``devflow up``: its pid and URLs."""

    pid: int
    database_url: str
    nats_url: str
    http_url: str


def path(data_dir: Path) -> Path:
    """Where the run state of ``data_dir`` lives."""
    return data_dir / "runtime.json"


def write(data_dir: Path, state: RunState) -> None:
    """Write the run state atomically (a temp file renamed over it)."""
    tmp = path(data_dir).with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.encode(state))
    tmp.replace(path(data_dir))


def read(data_dir: Path) -> RunState | None:
    """The state of the live ``devflow up`` for this data dir, or None."""
    try:
        state = msgspec.json.decode(path(data_dir).read_bytes(), type=RunState)
    except (FileNotFoundError, msgspec.DecodeError):
        return None
    try:
        os.kill(state.pid, 0)
    except (ProcessLookupError, PermissionError):
        # Gone, or the pid now belongs to another user's process: not our devflow up.
        return None
    return state


def clear(data_dir: Path) -> None:
    """Remove the run state, if any."""
    path(data_dir).unlink(missing_ok=True)
