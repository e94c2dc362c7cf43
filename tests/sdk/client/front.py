"""A tiny HTTP server standing in front of the real one, at the network boundary.

It records every capture request the SDK makes (decompressed body, time of arrival), answers
scripted responses first (a 503 with Retry-After, a 400 naming an event, ...), and forwards the
rest to the real server, so events still end up stored for real. Without an upstream it
answers 200 to everything (for golden payload tests).
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes  # decompressed
    at: float  # monotonic
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


# Decides the answer to a request: a Reply, or None to forward it upstream.
Script = Callable[[Seen], Reply | None]


class Front:
    def __init__(self, upstream: str | None = None) -> None:
        self.upstream = upstream
        self.seen: list[Seen] = []
        self.script: Script = lambda _: None
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=upstream, timeout=30) if upstream else None
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                front._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
        seen = Seen(handler.path, headers, body, time.monotonic())
        reply = self.script(seen)
        if reply is None:
            if self._client is None:
                reply = Reply(200, b'{"status":1}')
            else:
                resp = self._client.post(
                    handler.path,
                    content=raw,
                    headers={
                        k: v
                        for k, v in headers.items()
                        if k in ("content-type", "content-encoding")
                    },
                )
                reply = Reply(resp.status_code, resp.content, dict(resp.headers))
        seen.status = reply.status
        with self._lock:
            self.seen.append(seen)
        handler.send_response(reply.status)
        for key, value in reply.headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)

    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._client is not None:
            self._client.close()


def problem(status: int, headers: dict[str, str] | None = None, **fields: Any) -> Reply:
    body = {"title": "scripted", "status": status, **fields}
    return Reply(
        status,
        json.dumps(body).encode(),
        {"Content-Type": "application/problem+json", **(headers or {})},
    )
