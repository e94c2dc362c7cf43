"""Last-known-good definitions on disk, so a process that starts during an outage still
evaluates flags the way they were when it last heard from the server."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from devflow_sdk._flagsync.definitions import CACHE, DefinitionsError, parse

if TYPE_CHECKING:
    from devflow_sdk._flagsync.definitions import Definitions

log = logging.getLogger("devflow_sdk.flags")


class _Entry(msgspec.Struct):
    etag: str | None
    definitions: msgspec.Raw


class DiskCache:
    """One file per project token (named by its hash) in ``directory``, replaced atomically and
    readable by the owner only: definitions can name the people a flag targets."""

    def __init__(self, directory: str | os.PathLike[str], token: str) -> None:
        digest = hashlib.sha256(token.encode()).hexdigest()[:24]
        self.path = Path(directory) / f"devflow-flags-{digest}.json"

    def load(self) -> Definitions | None:
        try:
            entry = msgspec.json.decode(self.path.read_bytes(), type=_Entry)
            return parse(bytes(entry.definitions), etag=entry.etag, source=CACHE)
        except FileNotFoundError:
            return None
        except (OSError, msgspec.DecodeError, DefinitionsError) as exc:
            log.warning("devflow: ignoring the unreadable flags cache %s: %s", self.path, exc)
            return None

    def save(self, definitions: Definitions) -> None:
        """Write the snapshot; a failure is logged, never raised (the cache is an extra)."""
        data = msgspec.json.encode(_Entry(definitions.etag, msgspec.Raw(definitions.body)))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".devflow-flags-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            log.warning("devflow: could not write the flags cache %s: %s", self.path, exc)
