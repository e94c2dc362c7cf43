"""Every call to Stripe goes through one ``stripe.StripeClient`` built here: the project's
secret key, ``DEVFLOW_STRIPE_API_BASE`` as the API base, the library's own retries of
connection errors, 409 and 5xx (one idempotency key per POST), and our back-off on 429, which the
library leaves to the caller."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

import stripe

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")
# Waits before each retry of a 429 (Stripe's rate limits are per second).
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)


def client(secret_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(secret_key, base_addresses={"api": api_base}, max_network_retries=2)


def call(fn: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``, retried with back-off while Stripe answers 429 (blocking: run it in a thread)."""
    for delay in BACKOFF_S:
        try:
            return fn()
        except stripe.RateLimitError:
            sleep(delay)
    return fn()
