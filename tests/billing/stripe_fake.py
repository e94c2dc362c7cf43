"""A local fake of the parts of Stripe's HTTP API billing calls, at its HTTP boundary.

Shapes follow Stripe's OpenAPI spec (github.com/stripe/openapi): list objects
``{"object": "list", "data": [...], "has_more", "url"}`` newest first with ``limit`` (1-100,
default 10) and ``starting_after``; errors ``{"error": {"type", "code", "message"}}``;
``GET /v1/subscriptions`` leaves out canceled ones unless ``status=all``;
``GET /v1/entitlements/active_entitlements`` needs ``customer``; ``POST
/v1/billing/meter_events`` takes a form body (``event_name``, ``payload[...]``, ``identifier``,
``timestamp``). Requests carrying an ``Idempotency-Key`` already seen get the first answer again
(``Idempotent-Replayed: true``), as Stripe does; a meter event whose ``identifier`` was already
accepted is refused with a 400 (Stripe enforces identifier uniqueness for at least 24 hours).

Every request is recorded; :meth:`StripeFake.fail_next` makes the next requests answer 429 or
5xx, to exercise retries.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LISTS = {
    "/v1/customers": "customer",
    "/v1/products": "product",
    "/v1/prices": "price",
    "/v1/subscriptions": "subscription",
}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    status: int = 0


@dataclass
class StripeFake:
    """``with StripeFake() as fake:`` serves on ``fake.url`` until the block ends."""

    api_key: str = "sk_test_fake"
    objects: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {kind: [] for kind in LISTS.values()}
    )
    # Active entitlements by customer id.
    entitlements: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    meter_events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    # Set: meter events are recorded, then their answer waits until it is cleared (a client
    # killed meanwhile never learns that Stripe has the event).
    hold_answers: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)
    _idempotent: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # -- setup -----------------------------------------------------------------------------------

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.objects[obj["object"]].append(obj)
        return obj

    def fail_next(self, count: int = 1, status: int = 429) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def reset_failures(self) -> None:
        with self._lock:
            self._failures.clear()
        self.release()

    def hold(self) -> None:
        self._released.clear()
        self.hold_answers.set()

    def release(self) -> None:
        self.hold_answers.clear()
        self._released.set()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StripeFake:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # -- answering -------------------------------------------------------------------------------

    def answer(self, rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(rec)
            if self._failures:
                status = self._failures.pop(0)
                return status, {}, _error(status, "api_error", "injected failure")
        if rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, _error(401, "invalid_request_error", "Invalid API Key provided")
        key = rec.headers.get("idempotency-key")
        if rec.method == "POST" and key:
            with self._lock:
                if key in self._idempotent:
                    status, body = self._idempotent[key]
                    return status, {"Idempotent-Replayed": "true"}, body
            status, headers, body = self._route(rec)
            with self._lock:
                self._idempotent.setdefault(key, (status, body))
            return status, headers, body
        return self._route(rec)

    def _route(self, rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        if rec.method == "GET" and rec.path in LISTS:
            items = self.objects[LISTS[rec.path]]
            if rec.path == "/v1/subscriptions" and rec.query.get("status") != "all":
                items = [s for s in items if s.get("status") != "canceled"]
            if "customer" in rec.query:
                items = [o for o in items if o.get("customer") == rec.query["customer"]]
            return self._page(rec, items)
        if rec.method == "GET" and rec.path == "/v1/entitlements/active_entitlements":
            customer = rec.query.get("customer")
            if not customer:
                return 400, {}, _error(400, "invalid_request_error", "Missing customer")
            return self._page(rec, self.entitlements.get(customer, []), newest_first=False)
        if rec.method == "POST" and rec.path == "/v1/billing/meter_events":
            return self._meter_event(rec)
        return 404, {}, _error(404, "invalid_request_error", f"Unrecognized request URL {rec.path}")

    def _page(
        self, rec: Recorded, items: list[dict[str, Any]], *, newest_first: bool = True
    ) -> tuple[int, dict[str, str], bytes]:
        limit = int(rec.query.get("limit", "10"))
        if not 1 <= limit <= 100:
            return 400, {}, _error(400, "invalid_request_error", "limit must be 1 to 100")
        ordered = (
            sorted(items, key=lambda o: (-o.get("created", 0), o["id"])) if newest_first else items
        )
        after = rec.query.get("starting_after")
        if after:
            ids = [o["id"] for o in ordered]
            if after not in ids:
                return 400, {}, _error(400, "invalid_request_error", f"No such object: {after}")
            ordered = ordered[ids.index(after) + 1 :]
        body = {
            "object": "list",
            "data": ordered[:limit],
            "has_more": len(ordered) > limit,
            "url": rec.path,
        }
        return 200, {}, json.dumps(body).encode()

    def _meter_event(self, rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        form = rec.form
        payload = {k[len("payload[") : -1]: v for k, v in form.items() if k.startswith("payload[")}
        if not form.get("event_name") or "stripe_customer_id" not in payload:
            return 400, {}, _error(400, "invalid_request_error", "event_name and payload needed")
        identifier = form.get("identifier") or f"gen_{len(self.meter_events)}"
        with self._lock:
            if any(e["identifier"] == identifier for e in self.meter_events):
                return (
                    400,
                    {},
                    _error(
                        400,
                        "invalid_request_error",
                        f"An event with identifier {identifier} already exists",
                        code="resource_already_exists",
                    ),
                )
            event = {
                "object": "billing.meter_event",
                "created": int(time.time()),
                "event_name": form["event_name"],
                "identifier": identifier,
                "livemode": False,
                "payload": payload,
                "timestamp": int(form.get("timestamp") or time.time()),
            }
            self.meter_events.append(event)
        if self.hold_answers.is_set():
            self._released.wait(timeout=60)
        return 200, {}, json.dumps(event).encode()


def _error(status: int, type_: str, message: str, code: str | None = None) -> bytes:
    if status == 429:
        type_, code, message = "invalid_request_error", "rate_limit", "Too many requests"
    return json.dumps({"error": {"type": type_, "code": code, "message": message}}).encode()


def _handler(fake: StripeFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            rec = Recorded(
                method=method,
                path=split.path,
                query={k: v[-1] for k, v in parse_qs(split.query).items()},
                form={k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            status, headers, out = fake.answer(rec)
            rec.status = status
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.send_header("Request-Id", f"req_fake_{len(fake.requests)}")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(out)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, *_: Any) -> None:  # quiet
            return

    return Handler
