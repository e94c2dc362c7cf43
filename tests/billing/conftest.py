from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.billing.crypto import new_key
from tests.billing.factories import WEBHOOK_SECRET, admin
from tests.billing.stripe_fake import StripeFake
from tests.support import Server, Stack


@pytest.fixture(scope="session")
def stripe_fake() -> Iterator[StripeFake]:
    with StripeFake() as fake:
        yield fake


@pytest.fixture
def fake(stripe_fake: StripeFake) -> StripeFake:
    """The session's Stripe fake, emptied for the test."""
    stripe_fake.objects = {kind: [] for kind in stripe_fake.objects}
    stripe_fake.entitlements.clear()
    stripe_fake.meter_events.clear()
    stripe_fake.requests.clear()
    stripe_fake.reset_failures()
    return stripe_fake


@pytest.fixture(scope="session")
def billing_key() -> str:
    return new_key()


@pytest.fixture(scope="session")
def billing_server(stack: Stack, stripe_fake: StripeFake, billing_key: str) -> Server:
    """A process serving billing on the suite's database and NATS, calling the Stripe fake.
    Events are captured, and flags made and evaluated, by the suite's shared server: its
    consumers stay the only ones of ingest and flags, so other tests' counts stay theirs."""
    return stack.serve(
        name="billing-api",
        services=("billing",),
        DEVFLOW_BILLING_ENCRYPTION_KEY=billing_key,
        DEVFLOW_STRIPE_API_BASE=stripe_fake.url,
        # The tests run the metering job themselves.
        DEVFLOW_BILLING_REPORT_INTERVAL_S="3600",
    )


@pytest.fixture
def bhttp(billing_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=billing_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def billing_project(stack: Stack, bhttp: httpx.Client) -> Any:
    """A fresh project with its Stripe webhook secret configured."""
    project = stack.project()
    r = bhttp.put(
        "/api/billing/settings",
        json={"webhook_secret": WEBHOOK_SECRET, "stripe_secret_key": StripeFake.api_key},
        headers=admin(project),
    )
    assert r.status_code == 200, r.text
    return project
