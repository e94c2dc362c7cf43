"""SQL of the billing projection. Every upsert applies a row only when its event is newer, by
(Stripe's ``created``, event id), than the one the row holds: the order events arrive in does
not matter, a redelivered or late event changes nothing, and a rebuild from the log in any order
yields the same rows. (The event id breaks ties inside Stripe's one-second ``created``.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from services.billing.repo._conn import Conn

_NEWER = "WHERE ({t}.event_created, {t}.event_id) < (EXCLUDED.event_created, EXCLUDED.event_id)"

UPSERT_CUSTOMER = f"""
INSERT INTO billing_customers
    (project_id, id, email, name, metadata, deleted, event_created, event_id)
VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s)
ON CONFLICT (project_id, id) DO UPDATE SET
    email = EXCLUDED.email, name = EXCLUDED.name, metadata = EXCLUDED.metadata,
    deleted = EXCLUDED.deleted, event_created = EXCLUDED.event_created,
    event_id = EXCLUDED.event_id
{_NEWER.format(t="billing_customers")}
"""
UPSERT_PRODUCT = f"""
INSERT INTO billing_products (project_id, id, name, active, deleted, event_created, event_id)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (project_id, id) DO UPDATE SET
    name = EXCLUDED.name, active = EXCLUDED.active, deleted = EXCLUDED.deleted,
    event_created = EXCLUDED.event_created, event_id = EXCLUDED.event_id
{_NEWER.format(t="billing_products")}
"""
UPSERT_PRICE = f"""
INSERT INTO billing_prices (project_id, id, product_id, lookup_key, unit_amount, currency,
    recurring_interval, interval_count, active, deleted, event_created, event_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (project_id, id) DO UPDATE SET
    product_id = EXCLUDED.product_id, lookup_key = EXCLUDED.lookup_key,
    unit_amount = EXCLUDED.unit_amount, currency = EXCLUDED.currency,
    recurring_interval = EXCLUDED.recurring_interval, interval_count = EXCLUDED.interval_count,
    active = EXCLUDED.active, deleted = EXCLUDED.deleted,
    event_created = EXCLUDED.event_created, event_id = EXCLUDED.event_id
{_NEWER.format(t="billing_prices")}
"""
UPSERT_SUBSCRIPTION = f"""
INSERT INTO billing_subscriptions (project_id, id, customer_id, status, items, price_ids,
    product_ids, trial_start, trial_end, cancel_at_period_end, current_period_start,
    current_period_end, created, event_created, event_id)
VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (project_id, id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, items = EXCLUDED.items,
    price_ids = EXCLUDED.price_ids, product_ids = EXCLUDED.product_ids,
    trial_start = EXCLUDED.trial_start, trial_end = EXCLUDED.trial_end,
    cancel_at_period_end = EXCLUDED.cancel_at_period_end,
    current_period_start = EXCLUDED.current_period_start,
    current_period_end = EXCLUDED.current_period_end, created = EXCLUDED.created,
    event_created = EXCLUDED.event_created, event_id = EXCLUDED.event_id
{_NEWER.format(t="billing_subscriptions")}
"""
UPSERT_INVOICE = f"""
INSERT INTO billing_invoices (project_id, id, customer_id, subscription_id, status, paid,
    payment_failed, amount_due, amount_paid, currency, event_created, event_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (project_id, id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, subscription_id = EXCLUDED.subscription_id,
    status = EXCLUDED.status, paid = EXCLUDED.paid, payment_failed = EXCLUDED.payment_failed,
    amount_due = EXCLUDED.amount_due, amount_paid = EXCLUDED.amount_paid,
    currency = EXCLUDED.currency, event_created = EXCLUDED.event_created,
    event_id = EXCLUDED.event_id
{_NEWER.format(t="billing_invoices")}
"""
UPSERT_ENTITLEMENTS = f"""
INSERT INTO billing_entitlements (project_id, customer_id, lookup_keys, event_created, event_id)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (project_id, customer_id) DO UPDATE SET
    lookup_keys = EXCLUDED.lookup_keys, event_created = EXCLUDED.event_created,
    event_id = EXCLUDED.event_id
{_NEWER.format(t="billing_entitlements")}
"""
UPSERT_CHECKOUT_LINK = f"""
INSERT INTO billing_checkout_links
    (project_id, customer_id, client_reference_id, event_created, event_id)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (project_id, customer_id) DO UPDATE SET
    client_reference_id = EXCLUDED.client_reference_id,
    event_created = EXCLUDED.event_created, event_id = EXCLUDED.event_id
{_NEWER.format(t="billing_checkout_links")}
"""
UPSERTS = {
    "customer": UPSERT_CUSTOMER,
    "product": UPSERT_PRODUCT,
    "price": UPSERT_PRICE,
    "subscription": UPSERT_SUBSCRIPTION,
    "invoice": UPSERT_INVOICE,
    "entitlements": UPSERT_ENTITLEMENTS,
    "checkout_link": UPSERT_CHECKOUT_LINK,
}

# Customers whose plan a price or product names (its lookup key or id may have changed).
SELECT_CUSTOMERS_OF_PRICE = """
SELECT DISTINCT customer_id FROM billing_subscriptions
WHERE project_id = %s AND (%s = ANY (price_ids) OR %s = ANY (product_ids))
ORDER BY customer_id
"""

# What the flag properties of one customer are computed from.
SELECT_CUSTOMER = """
SELECT id, email, name, metadata, deleted, event_created FROM billing_customers
WHERE project_id = %s AND id = %s
"""
SELECT_CUSTOMER_SUBSCRIPTIONS = """
SELECT id, status, items, created, event_created FROM billing_subscriptions
WHERE project_id = %s AND customer_id = %s ORDER BY created DESC, id
"""
SELECT_PRICES = """
SELECT id, lookup_key, event_created FROM billing_prices
WHERE project_id = %s AND id = ANY (%s)
"""
SELECT_ENTITLEMENTS = """
SELECT lookup_keys, event_created FROM billing_entitlements
WHERE project_id = %s AND customer_id = %s
"""
SELECT_CHECKOUT_LINK = """
SELECT client_reference_id, event_created FROM billing_checkout_links
WHERE project_id = %s AND customer_id = %s
"""

# The whole projection of a project, for `devflow rebuild billing` (compare, then replace).
TABLES = (
    ("billing_customers", "id"),
    ("billing_products", "id"),
    ("billing_prices", "id"),
    ("billing_subscriptions", "id"),
    ("billing_invoices", "id"),
    ("billing_entitlements", "customer_id"),
    ("billing_checkout_links", "customer_id"),
)
SELECT_TABLE = {
    table: f"SELECT to_jsonb(t) FROM {table} t WHERE project_id = %s ORDER BY {key}"
    for table, key in TABLES
}
DELETE_TABLE = {table: f"DELETE FROM {table} WHERE project_id = %s" for table, _ in TABLES}
# Applying and rebuilding take this lock, so a rebuild sees no half-applied batch.
LOCK_PROJECTION = "SELECT pg_advisory_xact_lock(hashtextextended('billing.projection', %s))"


class CustomerRow(msgspec.Struct, frozen=True):
    id: str
    email: str | None
    name: str | None
    metadata: dict[str, Any]
    deleted: bool
    event_created: int


class SubscriptionRow(msgspec.Struct, frozen=True):
    id: str
    status: str
    items: list[dict[str, Any]]
    created: int
    event_created: int


class PriceRow(msgspec.Struct, frozen=True):
    id: str
    lookup_key: str | None
    event_created: int


async def upsert(conn: Conn, kind: str, values: tuple[Any, ...]) -> bool:
    """Apply one row of ``kind``; False when the row holds a newer (or the same) event."""
    cur = await conn.execute(UPSERTS[kind], values)
    return cur.rowcount > 0


async def lock(conn: Conn, project_id: int) -> None:
    await conn.execute(LOCK_PROJECTION, (project_id,))


async def customers_of_price(conn: Conn, project_id: int, object_id: str) -> list[str]:
    cur = await conn.execute(SELECT_CUSTOMERS_OF_PRICE, (project_id, object_id, object_id))
    return [str(r[0]) for r in await cur.fetchall()]


async def select_customer(conn: Conn, project_id: int, customer_id: str) -> CustomerRow | None:
    row = await (await conn.execute(SELECT_CUSTOMER, (project_id, customer_id))).fetchone()
    return CustomerRow(*row) if row else None


async def select_subscriptions(
    conn: Conn, project_id: int, customer_id: str
) -> list[SubscriptionRow]:
    cur = await conn.execute(SELECT_CUSTOMER_SUBSCRIPTIONS, (project_id, customer_id))
    return [SubscriptionRow(*r) for r in await cur.fetchall()]


async def select_prices(conn: Conn, project_id: int, price_ids: list[str]) -> list[PriceRow]:
    cur = await conn.execute(SELECT_PRICES, (project_id, price_ids))
    return [PriceRow(*r) for r in await cur.fetchall()]


async def select_entitlements(
    conn: Conn, project_id: int, customer_id: str
) -> tuple[list[str], int] | None:
    row = await (await conn.execute(SELECT_ENTITLEMENTS, (project_id, customer_id))).fetchone()
    return (list(row[0]), int(row[1])) if row else None


async def select_checkout_link(
    conn: Conn, project_id: int, customer_id: str
) -> tuple[str, int] | None:
    row = await (await conn.execute(SELECT_CHECKOUT_LINK, (project_id, customer_id))).fetchone()
    return (str(row[0]), int(row[1])) if row else None


async def snapshot(conn: Conn, project_id: int) -> dict[str, list[Any]]:
    """Every projection row of the project, by table, in key order."""
    out: dict[str, list[Any]] = {}
    for table, _ in TABLES:
        cur = await conn.execute(SELECT_TABLE[table], (project_id,))
        out[table] = [r[0] for r in await cur.fetchall()]
    return out


async def delete_projection(conn: Conn, project_id: int) -> None:
    for table, _ in TABLES:
        await conn.execute(DELETE_TABLE[table], (project_id,))
