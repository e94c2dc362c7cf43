"""The exact bytes the SDK sends for each kind of event (``tests/sdk/golden/*.json``).

A change to the wire format shows up here as a diff to review. Regenerate the files with
``DEVFLOW_UPDATE_GOLDEN=1 pytest tests/sdk/client/test_golden.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import devflow_sdk
import pytest
from devflow_sdk import Client

from tests.sdk.client.front import Front

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
NOW = datetime(2026, 11, 21, 10, 55, 0, 123456, tzinfo=UTC)
UUID = "01a1fdbe-ab9e-7306-a52f-273c8f58b1f3"

CASES: dict[str, Callable[[Client], Any]] = {
    "capture": lambda c: c.capture("signed_up", "user-42", {"plan": "pro", "seats": 3}),
    "capture_groups_timestamp_uuid": lambda c: c.capture(
        "$pageview",
        "user-42",
        {"$current_url": "https://example.com/"},
        groups={"company": "acme"},
        timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        uuid="01A1FDBE-0000-7000-8000-000000000001",
    ),
    "identify": lambda c: c.identify(
        "user-42", {"email": "ada@example.com"}, set_once={"first_seen": "2026-11-21"}
    ),
    "alias": lambda c: c.alias("anon-7", "user-42"),
    "set": lambda c: c.set("user-42", {"name": "Ada"}),
    "set_once": lambda c: c.set_once("user-42", {"initial_referrer": "news"}),
    "group_identify": lambda c: c.group_identify("company", "acme", {"employees": 11}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_wire_payload(case: str, front_of: Callable[..., Front]) -> None:
    front = front_of()  # answers 200 to everything, records what it got
    client = Client(
        "phc_golden",
        host=front.url,
        clock=lambda: NOW,
        uuid_factory=lambda: UUID,
        super_properties={"service": "checkout"},
    )
    try:
        assert CASES[case](client) is not None
        assert client.flush(30)
    finally:
        client.shutdown()
    (request,) = front.requests()
    assert request.path == "/batch/"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["user-agent"] == f"devflow-sdk-python/{devflow_sdk.__version__}"
    path = GOLDEN / f"{case}.json"
    body = request.body.decode() + "\n"
    if os.environ.get("DEVFLOW_UPDATE_GOLDEN"):
        path.write_text(body)
    assert body == path.read_text(), f"{case}: the wire format changed (see {path})"
