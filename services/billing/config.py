"""The billing service's settings, read once at start-up by the kernel's reader
(services.core.settings.read) and reached through ``ctx.settings_of(BillingConfig)``.

``DEVFLOW_STRIPE_API_BASE`` redirects every call to Stripe (stripe-mock, a fake, a proxy);
``DEVFLOW_BILLING_ENCRYPTION_KEY`` encrypts the Stripe secrets each project stores.
"""

from __future__ import annotations

import base64
import binascii
from typing import ClassVar

import msgspec

DEFAULT_API_BASE = "https://api.stripe.com"


class BillingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Each field ``x`` is read from ``DEVFLOW_X``."""

    ENV_PREFIX: ClassVar[str] = "DEVFLOW_"

    # Base URL of Stripe's API for every outbound call.
    stripe_api_base: str = DEFAULT_API_BASE
    # 32 bytes, URL-safe base64 (`python -c "import os,base64;
    # print(base64.urlsafe_b64encode(os.urandom(32)).decode())"`). `devflow up` makes one in its
    # data directory when this is unset; without either, Stripe secrets cannot be saved.
    billing_encryption_key: str | None = None
    # Stored Stripe events the projector applies per transaction.
    billing_fetch_batch: int = 64
    # How often the metering job reports closed windows to Stripe.
    billing_report_interval_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.stripe_api_base.startswith(("http://", "https://")):
            raise ValueError("DEVFLOW_STRIPE_API_BASE: must be an http(s) URL")
        if not 1 <= self.billing_fetch_batch <= 1000:
            raise ValueError("DEVFLOW_BILLING_FETCH_BATCH: must be 1 to 1000")
        if not self.billing_report_interval_s > 0:
            raise ValueError("DEVFLOW_BILLING_REPORT_INTERVAL_S: must be > 0")
        if (
            self.billing_encryption_key is not None
            and len(key_bytes(self.billing_encryption_key)) != 32
        ):
            raise ValueError(
                "DEVFLOW_BILLING_ENCRYPTION_KEY: must be 32 bytes, URL-safe base64 encoded"
            )


def key_bytes(text: str) -> bytes:
    """The key's bytes (empty when it is not base64)."""
    text = text.strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""
