"""What the billing service keeps for the life of the process: its settings and the box that
seals and opens the projects' Stripe secrets (``ctx.state_of(BillingState)``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.billing.config import BillingConfig
from services.billing.crypto import SecretBox

if TYPE_CHECKING:
    from services.core.service import Context


@dataclass(frozen=True)
class BillingState:
    config: BillingConfig
    # None when no encryption key is configured: secrets can then be neither saved nor used.
    box: SecretBox | None

    @classmethod
    def from_config(cls, config: BillingConfig) -> BillingState:
        """The state for ``config``; a malformed key is a :class:`ConfigError`."""
        key = config.billing_encryption_key
        return cls(config, SecretBox.from_text(key) if key else None)


def state_of(ctx: Context) -> BillingState:
    """The process's billing state, made from the service's settings on first use."""
    return ctx.state_or(
        BillingState, lambda: BillingState.from_config(ctx.settings_of(BillingConfig))
    )


def config_of(ctx: Context) -> BillingConfig:
    """The billing settings of this process."""
    return ctx.settings_of(BillingConfig)
