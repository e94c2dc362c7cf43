"""The two ways definitions arrive: an ETag-conditional GET and the server-sent event stream."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Final, NamedTuple

from devflow_sdk._flagsync.definitions import SERVER, parse, unquote
from devflow_sdk.errors import APIError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devflow_sdk._flagsync.definitions import Definitions
    from devflow_sdk._http import Transport

DEFINITIONS_PATH: Final = "/flags/definitions"
STREAM_PATH: Final = "/api/feature_flags/stream"
# The server sends a keepalive comment every 15 s; three missed ones mean the link is dead.
STREAM_READ_TIMEOUT: Final = 45.0


def fetch_definitions(
    transport: Transport, token: str, secret_key: str, etag: str | None
) -> Definitions | None:
    """The project's definitions, or ``None`` when they are still ``etag`` (304).

    Raises ``TransportError`` (no answer), ``APIError`` (non-2xx) or ``DefinitionsError``.
    """
    headers = {"Authorization": f"Bearer {secret_key}"}
    if etag:
        headers["If-None-Match"] = f'"{etag}"'
    resp = transport.get(DEFINITIONS_PATH, headers=headers, params={"token": token})
    if resp.status == 304:
        return None
    if not resp.ok:
        raise APIError.from_response(resp)
    return parse(resp.body, etag=unquote(resp.headers.get("etag")), source=SERVER)


class Event(NamedTuple):
    event: str
    data: str
    id: str | None


class EventParser:
    """Server-sent events, one line at a time (the WHATWG parsing rules, minus ``retry``)."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> Event | None:
        """Take one line (without its terminator); return the event a blank line completes."""
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = Event(self._event or "message", "\n".join(self._data), self.last_id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None  # a comment: the server's keepalive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\x00" not in value:
            self.last_id = value
        return None


@contextmanager
def open_stream(
    transport: Transport, token: str, secret_key: str, last_event_id: str | None
) -> Iterator[Iterator[str]]:
    """The definitions stream's lines; with ``last_event_id`` the server skips its first event
    when nothing changed since. Raises ``APIError`` or ``TransportError``."""
    headers = {"Authorization": f"Bearer {secret_key}", "Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    with transport.stream_lines(
        STREAM_PATH, headers=headers, params={"token": token}, read_timeout=STREAM_READ_TIMEOUT
    ) as lines:
        yield lines
