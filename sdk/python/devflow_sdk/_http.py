"""HTTP transport: the only module of the SDK that imports httpx.

``Transport`` (sync) and ``AsyncTransport`` wrap one pooled httpx client each. Non-2xx answers
come back as a ``Response`` (the caller decides what they mean); failures to get an answer at
all raise ``TransportError``. ``stream_lines`` is the exception: it is for server-sent events,
where a non-2xx answer has no stream to give, so it raises ``APIError``.

Both are safe across ``fork()``: a child never reuses the parent's pooled connections (they
are sockets shared with the parent), it lazily opens its own on first use.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import weakref
import zlib
from typing import TYPE_CHECKING

import httpx

from devflow_sdk._response import Response
from devflow_sdk._version import __version__
from devflow_sdk.errors import APIError, TransportError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping

__all__ = ["DEFAULT_HOST", "DEFAULT_USER_AGENT", "AsyncTransport", "Response", "Transport"]

DEFAULT_HOST = "http://127.0.0.1:8000"
DEFAULT_USER_AGENT = f"devflow-sdk-python/{__version__}"

_GZIP_LEVEL = 6
# Transports alive in this process, reset in a forked child (see _after_fork_in_child).
_LIVE: weakref.WeakSet[Transport | AsyncTransport] = weakref.WeakSet()


def gzip_bytes(body: bytes) -> bytes:
    """Gzip ``body`` (a gzip container, as ``Content-Encoding: gzip`` requires)."""
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 31)
    return compressor.compress(body) + compressor.flush()


def _base_url(host: str) -> str:
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = "https://" + host
    return host


def _response(resp: httpx.Response) -> Response:
    return Response(status=resp.status_code, headers=dict(resp.headers.items()), body=resp.content)


def _post_headers(headers: Mapping[str, str] | None, gzip: bool) -> dict[str, str]:
    merged = {"Content-Type": "application/json"}
    if gzip:
        merged["Content-Encoding"] = "gzip"
    if headers:
        merged.update(headers)
    return merged


class Transport:
    """A thread-safe synchronous HTTP client bound to one host."""

    def __init__(
        self, host: str, *, timeout: float = 10.0, user_agent: str = DEFAULT_USER_AGENT
    ) -> None:
        self.base_url = _base_url(host)
        self.timeout = timeout
        self.user_agent = user_agent
        self._lock = threading.Lock()
        # Responses of open streams: close() cuts their sockets so a blocked read ends.
        self._streams: set[httpx.Response] = set()
        self._client: httpx.Client | None = None
        self._closed = False
        _LIVE.add(self)

    def _http(self) -> httpx.Client:
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._closed:
                raise TransportError("transport is closed")
            if self._client is None:
                self._client = httpx.Client(
                    base_url=self.base_url,
                    timeout=self.timeout,
                    headers={"User-Agent": self.user_agent},
                )
            return self._client

    def _after_fork(self) -> None:
        # The parent's pool holds sockets the parent still uses: forget it, never close it here.
        self._lock = threading.Lock()
        self._client = None
        self._streams = set()

    def post(
        self,
        path: str,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        gzip: bool = False,
    ) -> Response:
        """POST ``body`` (gzipped on the wire when ``gzip``); raises ``TransportError``."""
        content = gzip_bytes(body) if gzip else body
        try:
            resp = self._http().post(path, content=content, headers=_post_headers(headers, gzip))
        except httpx.HTTPError as exc:
            raise TransportError(f"POST {path}: {exc!r}") from exc
        return _response(resp)

    def get(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Response:
        """GET ``path``; raises ``TransportError`` when no answer arrives."""
        try:
            resp = self._http().get(path, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise TransportError(f"GET {path}: {exc!r}") from exc
        return _response(resp)

    @contextlib.contextmanager
    def stream_lines(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        read_timeout: float = 60.0,
    ) -> Iterator[Iterator[str]]:
        """Open a streaming GET and yield an iterator over its text lines (for SSE).

        Raises ``APIError`` on a non-2xx answer and ``TransportError`` on network failure,
        including failures while iterating.
        """
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        try:
            with self._http().stream(
                "GET", path, headers=headers, params=params, timeout=timeout
            ) as resp:
                if not 200 <= resp.status_code < 300:
                    resp.read()
                    raise APIError.from_response(_response(resp))
                with self._lock:
                    self._streams.add(resp)
                try:
                    yield _sync_lines(resp, path)
                finally:
                    with self._lock:
                        self._streams.discard(resp)
        except httpx.HTTPError as exc:
            raise TransportError(f"GET {path} (stream): {exc!r}") from exc

    def close(self) -> None:
        """Close pooled connections and end open streams; later calls raise ``TransportError``.

        Closing the pool does not wake a thread blocked reading a stream, so the streams'
        sockets are shut down first: the read ends at once with a ``TransportError``.
        """
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
            streams, self._streams = list(self._streams), set()
        for resp in streams:
            _cut(resp)
        if client is not None:
            client.close()


def _cut(resp: httpx.Response) -> None:
    stream = resp.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _sync_lines(resp: httpx.Response, path: str) -> Iterator[str]:
    try:
        yield from resp.iter_lines()
    except httpx.HTTPError as exc:
        raise TransportError(f"GET {path} (stream): {exc!r}") from exc


class AsyncTransport:
    """The asyncio twin of ``Transport``: one ``httpx.AsyncClient``, used from one loop."""

    def __init__(
        self, host: str, *, timeout: float = 10.0, user_agent: str = DEFAULT_USER_AGENT
    ) -> None:
        self.base_url = _base_url(host)
        self.timeout = timeout
        self.user_agent = user_agent
        self._client: httpx.AsyncClient | None = None
        self._closed = False
        _LIVE.add(self)

    def _http(self) -> httpx.AsyncClient:
        if self._closed:
            raise TransportError("transport is closed")
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self.timeout,
                headers={"User-Agent": self.user_agent},
            )
        return self._client

    def _after_fork(self) -> None:
        self._client = None

    async def post(
        self,
        path: str,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        gzip: bool = False,
    ) -> Response:
        """POST ``body`` (gzipped on the wire when ``gzip``); raises ``TransportError``."""
        content = gzip_bytes(body) if gzip else body
        try:
            resp = await self._http().post(
                path, content=content, headers=_post_headers(headers, gzip)
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"POST {path}: {exc!r}") from exc
        return _response(resp)

    async def get(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Response:
        """GET ``path``; raises ``TransportError`` when no answer arrives."""
        try:
            resp = await self._http().get(path, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise TransportError(f"GET {path}: {exc!r}") from exc
        return _response(resp)

    @contextlib.asynccontextmanager
    async def stream_lines(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        read_timeout: float = 60.0,
    ) -> AsyncIterator[AsyncIterator[str]]:
        """Open a streaming GET and yield an async iterator over its text lines (for SSE)."""
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        try:
            async with self._http().stream(
                "GET", path, headers=headers, params=params, timeout=timeout
            ) as resp:
                if not 200 <= resp.status_code < 300:
                    await resp.aread()
                    raise APIError.from_response(_response(resp))
                yield _async_lines(resp, path)
        except httpx.HTTPError as exc:
            raise TransportError(f"GET {path} (stream): {exc!r}") from exc

    async def close(self) -> None:
        """Close pooled connections; later calls raise ``TransportError``."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


async def _async_lines(resp: httpx.Response, path: str) -> AsyncIterator[str]:
    try:
        async for line in resp.aiter_lines():
            yield line
    except httpx.HTTPError as exc:
        raise TransportError(f"GET {path} (stream): {exc!r}") from exc


def _after_fork_in_child() -> None:
    for transport in list(_LIVE):
        transport._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
