"""Definitions from a file: offline evaluation, tests, or a first answer before the server's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from devflow_sdk._flagsync.definitions import BOOTSTRAP, parse
from devflow_sdk.errors import ConfigError

if TYPE_CHECKING:
    import os

    from devflow_sdk._flagsync.definitions import Definitions


def load_bootstrap(path: str | os.PathLike[str]) -> Definitions:
    """Read a definitions document (what ``GET /flags/definitions`` returns) from ``path``.

    A missing or malformed file is a configuration mistake, so it raises ``ConfigError``.
    """
    try:
        body = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"bootstrap: cannot read {path}: {exc}") from exc
    try:
        return parse(body, etag=None, source=BOOTSTRAP)
    except ValueError as exc:
        raise ConfigError(f"bootstrap: {path}: {exc}") from exc
