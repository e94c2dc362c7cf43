"""Built files served as they are: the browser SDK bundle and the player's rrweb-player assets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas.api import FieldError
from services.replay.errors import AssetNotBuilt

if TYPE_CHECKING:
    from pathlib import Path

CACHE_CONTROL = "public, max-age=604800"


@dataclass(frozen=True)
class Asset:
    """A built file's bytes and its ETag (a quoted hash of them)."""

    body: bytes
    etag: str


class AssetCache:
    """Reads a built file when it changes (size and mtime), so a rebuild is served at once."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[tuple[int, int], Asset]] = {}

    def get(self, path: Path, hint: str) -> Asset:
        """The file as it is now; :class:`AssetNotBuilt` (404) naming ``hint`` when missing."""
        try:
            stat = path.stat()
        except OSError:
            raise AssetNotBuilt(
                f"{path.name} is not built: {hint}", [FieldError("path", f"{path} not found")]
            ) from None
        key = (stat.st_size, stat.st_mtime_ns)
        hit = self._seen.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        body = path.read_bytes()
        asset = Asset(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        self._seen[path] = (key, asset)
        return asset
