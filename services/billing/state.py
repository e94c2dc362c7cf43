"""What the billing service keeps for the life of the process: its settings and the box that
seals and opens the projects' Stripe secrets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.billing.config import BillingConfig
from services.billing.crypto import SecretBox

if TYPE_CHECKING:
    from services.core.service import Context

STATE_KEY = "billing.state"


@dataclass(frozen=True)
class BillingState:
    config: BillingConfig
    # None when no encryption key is configured: secrets can then be neither saved nor used.
    box: SecretBox | None

    @classmethod
    def from_config(cls, config: BillingConfig) -> BillingState:
        key = config.billing_encryption_key
        return cls(config, SecretBox.from_text(key) if key else None)


def state_of(ctx: Context) -> BillingState:
    state = ctx.state.get(STATE_KEY)
    if not isinstance(state, BillingState):
        state = ctx.state[STATE_KEY] = BillingState.from_config(BillingConfig.from_env())
    return state


def config_of(ctx: Context) -> BillingConfig:
    return state_of(ctx).config
