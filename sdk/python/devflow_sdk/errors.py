"""The SDK's error tree.

``DevflowError`` is the root. The capture path never raises any of these on the caller's thread
(it logs and counts instead); they surface from the transport to the SDK's own background code
and from explicit, awaited calls such as flag evaluation against the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from devflow_sdk._response import Response

__all__ = ["APIError", "ConfigError", "DevflowError", "TransportError"]


class DevflowError(Exception):
    """Base class of every error the SDK raises."""


class ConfigError(DevflowError, ValueError):
    """A client option is invalid (raised by the constructor only)."""


class TransportError(DevflowError):
    """The request did not complete: connection refused, DNS, timeout, protocol error."""


class APIError(DevflowError):
    """The server answered with a non-2xx status.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one in delta-seconds
    form; ``body`` is the decoded problem+json body when there was one.
    """

    def __init__(
        self,
        status: int,
        message: str,
        retry_after: float | None = None,
        *,
        body: object = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.body = body

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again later may succeed."""
        return self.status in (408, 425, 429) or self.status >= 500

    @classmethod
    def from_response(cls, resp: Response) -> APIError:
        """Build the error from a non-2xx response, reading a problem+json body if present."""
        body: object = None
        message = ""
        if resp.body:
            try:
                body = msgspec.json.decode(resp.body)
            except msgspec.DecodeError:
                message = resp.body[:200].decode("utf-8", "replace")
        if isinstance(body, dict):
            for key in ("detail", "title", "message", "error"):
                value = body.get(key)
                if isinstance(value, str) and value:
                    message = value
                    break
        return cls(resp.status, message or "HTTP error", parse_retry_after(resp), body=body)


def parse_retry_after(resp: Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds form only; HTTP dates are ignored)."""
    raw = resp.headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
