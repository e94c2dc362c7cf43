"""A customer's flag properties from its projection: ``$plan``, ``$plan_status``, ``$mrr``,
``$entitlements`` and ``$billing_customer_id`` (pure functions, no I/O).

- The subscription that counts is the customer's best by status (active, then trialing,
  past_due, unpaid, incomplete, paused, canceled, incomplete_expired), the newest among equals.
- ``$plan`` is its first item's price lookup key, else its product id; it is set only while the
  subscription is ``active``, ``trialing`` or ``past_due``; ``$plan_status`` is its status, or
  ``none`` when the customer never subscribed.
- ``$mrr`` sums the items of an ``active`` or ``past_due`` subscription: unit amount times
  quantity, normalised to a month (year / 12, week * 52 / 12, day * 365 / 12, divided by the
  interval count) and given in the currency's major unit. Discounts and taxes are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LIVE = ("active", "trialing", "past_due")
BILLED = ("active", "past_due")
_RANK = {
    s: i
    for i, s in enumerate(
        (
            "active",
            "trialing",
            "past_due",
            "unpaid",
            "incomplete",
            "paused",
            "canceled",
            "incomplete_expired",
        )
    )
}
_PER_MONTH = {"month": 1.0, "year": 1 / 12, "week": 52 / 12, "day": 365 / 12}
# Stripe's currencies without a minor unit, and those with three decimals.
_ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
_THREE_DECIMAL = frozenset(("bhd", "jod", "kwd", "omr", "tnd"))


@dataclass(frozen=True)
class Sub:
    id: str
    status: str
    items: list[dict[str, Any]]
    created: int


@dataclass(frozen=True)
class Plan:
    plan: str | None
    status: str
    mrr: float
    currency: str | None


def current(subs: list[Sub]) -> Sub | None:
    if not subs:
        return None
    return min(subs, key=lambda s: (_RANK.get(s.status, len(_RANK)), -s.created, s.id))


def plan_of(subs: list[Sub], lookup_keys: dict[str, str | None]) -> Plan:
    """``lookup_keys``: each known price's current lookup key (a renamed key wins over the one
    the subscription event carried)."""
    sub = current(subs)
    if sub is None:
        return Plan(None, "none", 0.0, None)
    plan = None
    if sub.status in LIVE and sub.items:
        first = sub.items[0]
        key = lookup_keys.get(first["price"], first.get("lookup_key"))
        plan = key or first.get("product") or first["price"]
    currency = next((i.get("currency") for i in sub.items if i.get("currency")), None)
    mrr = monthly(sub.items) if sub.status in BILLED else 0.0
    return Plan(plan, sub.status, mrr, currency)


def monthly(items: list[dict[str, Any]]) -> float:
    total = 0.0
    for item in items:
        per_month = _PER_MONTH.get(item.get("interval") or "")
        amount = item.get("unit_amount")
        if per_month is None or amount is None:
            continue  # one-off or metered prices have no fixed monthly amount
        count = max(int(item.get("interval_count") or 1), 1)
        total += amount * int(item.get("quantity") or 0) * per_month / count / _unit(item)
    return round(total, 4)


def _unit(item: dict[str, Any]) -> int:
    currency = str(item.get("currency") or "").lower()
    if currency in _ZERO_DECIMAL:
        return 1
    return 1000 if currency in _THREE_DECIMAL else 100
