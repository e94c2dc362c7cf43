"""A lean HTTP/1.1 load generator: pre-built request bytes over keep-alive connections.

The benchmark shares two cores with the platform, so every cycle the client spends is taken from
the server it measures. A general-purpose client (httpx) builds headers, URL objects and response
models per request; here a request is one ``write`` of bytes prepared before the clock starts and a
response is a status line, a ``Content-Length`` and a body read. Each connection has one request
in flight, as an SDK's connection pool does; concurrency is the number of connections.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


class ProtocolError(Exception):
    """The server answered something this client does not parse (it only speaks what we need)."""


def build_request(host: str, path: str, body: bytes, *, compress: bool = False) -> bytes:
    """A complete ``POST`` request as bytes, JSON body optionally gzip-compressed."""
    headers = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        "User-Agent: devflow-bench",
    ]
    if compress:
        body = gzip.compress(body, compresslevel=6)
        headers.append("Content-Encoding: gzip")
    headers.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


@dataclass
class DriveResult:
    ok: int = 0
    failed: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    @property
    def elapsed_s(self) -> float:
        return self.finished - self.started

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        raise ProtocolError(f"unexpected response start {head[:40]!r}")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        raise ProtocolError("response without Content-Length")
    end = lower.index(b"\r\n", at + 2)
    await reader.readexactly(int(lower[at + 17 : end]))
    return status


async def drive(
    host: str,
    port: int,
    requests: Sequence[bytes],
    *,
    concurrency: int,
    time_limit_s: float,
) -> DriveResult:
    """Send ``requests`` in order over ``concurrency`` connections until all are answered or
    ``time_limit_s`` has passed; a 200 counts as ok, anything else (or a broken connection) not.
    """
    result = DriveResult()
    conns = [await asyncio.open_connection(host, port) for _ in range(concurrency)]
    next_index = 0

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal next_index
        while next_index < len(requests) and time.perf_counter() < deadline:
            request = requests[next_index]
            next_index += 1
            sent = time.perf_counter()
            try:
                writer.write(request)
                await writer.drain()
                status = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ProtocolError, ValueError) as exc:
                result.failed += 1
                result.errors.append(f"{type(exc).__name__}: {exc}")
                writer.close()
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError as again:
                    result.errors.append(f"reconnect: {again}")
                    return
                continue
            result.latencies_s.append(time.perf_counter() - sent)
            result.statuses[status] += 1
            if status == 200:
                result.ok += 1
            else:
                result.failed += 1
        writer.close()

    result.started = time.perf_counter()
    deadline = result.started + time_limit_s
    await asyncio.gather(*(worker(r, w) for r, w in conns))
    result.finished = time.perf_counter()
    return result
