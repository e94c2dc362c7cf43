"""A tiny HTTP proxy in front of the real server: counts what the SDK asks for and can make
chosen paths fail, so tests observe the SDK's traffic without mocking any of it."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

_HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.log: list[tuple[str, str, int]] = []  # (method, path with query, status)
        self.bodies: list[tuple[str, bytes]] = []  # (path, body) of every POST
        self.fail: dict[str, int] = {}  # path prefix -> status answered instead of forwarding
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=upstream, timeout=httpx.Timeout(30, read=None))
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy._forward(self)

            def do_POST(self) -> None:
                proxy._forward(self)

            def do_PATCH(self) -> None:
                proxy._forward(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def requests(self, method: str, prefix: str, status: int | None = None) -> int:
        with self._lock:
            return sum(
                1
                for m, p, s in self.log
                if m == method and p.startswith(prefix) and (status is None or s == status)
            )

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((method, path, status))

    def _forward(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else b""
        if h.command == "POST":
            with self._lock:
                self.bodies.append((h.path, body))
        for prefix, status in list(self.fail.items()):
            if h.path.startswith(prefix):
                self._record(h.command, h.path, status)
                h.send_response(status)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        try:
            with self._client.stream(h.command, h.path, content=body, headers=headers) as r:
                self._record(h.command, h.path, r.status_code)
                h.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in _HOP:
                        h.send_header(k, v)
                if r.headers.get("content-type", "").startswith("text/event-stream"):
                    h.send_header("Connection", "close")
                    h.end_headers()
                    for chunk in r.iter_bytes():
                        h.wfile.write(chunk)
                        h.wfile.flush()
                    return
                content = r.read()
                h.send_header("Content-Length", str(len(content)))
                h.end_headers()
                h.wfile.write(content)
        except (httpx.HTTPError, OSError):
            return  # the upstream or the SDK went away; the test sees it in its own checks

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
