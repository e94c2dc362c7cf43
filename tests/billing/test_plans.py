"""Plan, status and MRR of a customer's subscriptions (services.billing.plans)."""

from __future__ import annotations

from typing import Any

import pytest

from services.billing.plans import Sub, monthly, plan_of


def item(
    amount: int | None, interval: str | None = "month", quantity: int = 1, **extra: Any
) -> dict[str, Any]:
    return {
        "price": extra.pop("price", "price_x"),
        "product": extra.pop("product", "prod_x"),
        "lookup_key": extra.pop("lookup_key", None),
        "unit_amount": amount,
        "currency": extra.pop("currency", "usd"),
        "interval": interval,
        "interval_count": extra.pop("interval_count", 1),
        "quantity": quantity,
    }


@pytest.mark.parametrize(
    ("items", "mrr"),
    [
        ([item(2900)], 29.0),
        ([item(2900, quantity=3)], 87.0),
        ([item(12000, "year")], 10.0),
        ([item(1000, "week")], 43.3333),
        ([item(100, "day")], 30.4167),
        ([item(6000, "month", interval_count=3)], 20.0),
        ([item(3000, currency="jpy")], 3000.0),
        ([item(1000, currency="kwd")], 1.0),
        ([item(2900), item(500, quantity=2)], 39.0),
        ([item(None, None)], 0.0),  # metered or one-off: no fixed monthly amount
    ],
)
def test_mrr_is_monthly_in_major_units(items: list[dict[str, Any]], mrr: float) -> None:
    assert monthly(items) == mrr


def test_the_best_subscription_decides_and_only_live_ones_carry_a_plan() -> None:
    pro = [item(2900, lookup_key="pro", price="price_pro")]
    old = Sub("sub_old", "canceled", [item(900, lookup_key="basic")], created=1)
    new = Sub("sub_new", "active", pro, created=2)
    assert plan_of([old, new], {}).plan == "pro"
    assert plan_of([old], {}).plan is None
    assert plan_of([old], {}).status == "canceled"
    assert plan_of([], {}).status == "none"
    # A renamed lookup key wins over the one the subscription carried; no key: the product.
    assert plan_of([new], {"price_pro": "professional"}).plan == "professional"
    assert plan_of([Sub("s", "trialing", [item(2900)], 1)], {}).plan == "prod_x"
    # Trials and unpaid subscriptions bring no MRR; past_due still does.
    assert plan_of([Sub("s", "trialing", pro, 1)], {}).mrr == 0.0
    assert plan_of([Sub("s", "past_due", pro, 1)], {}).mrr == 29.0
    assert plan_of([Sub("s", "unpaid", pro, 1)], {}).plan is None
