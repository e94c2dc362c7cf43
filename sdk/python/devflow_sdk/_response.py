"""``Response``: an HTTP answer as the SDK sees it, independent of the HTTP library.

Below both ``errors`` (which builds ``APIError`` from one) and ``_http`` (which makes them), so
that neither imports the other's module for it.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["Response"]


class Response(msgspec.Struct, frozen=True):
    """An HTTP answer: status, lower-cased headers (repeated ones comma-joined), raw body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body decoded as JSON (``msgspec.DecodeError`` when it is not JSON)."""
        return msgspec.json.decode(self.body)
