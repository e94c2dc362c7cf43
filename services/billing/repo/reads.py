"""SQL of billing's read API: customers by page, a customer's subscriptions, invoices and usage,
the linked person (through ingest's read contract), the event log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.billing import InvoiceOut, MeterTotal, StripeEventOut, SubscriptionOut

if TYPE_CHECKING:
    from services.billing.repo._conn import Conn


SELECT_CUSTOMER_IDS = """
SELECT id FROM billing_customers WHERE project_id = %s AND id > %s ORDER BY id LIMIT %s
"""
SELECT_SUBSCRIPTIONS = """
SELECT id, status, items, trial_start, trial_end, cancel_at_period_end, current_period_start,
       current_period_end, created
FROM billing_subscriptions WHERE project_id = %s AND customer_id = %s ORDER BY created DESC, id
"""
SELECT_INVOICES = """
SELECT id, subscription_id, status, paid, payment_failed, amount_due, amount_paid, currency
FROM billing_invoices WHERE project_id = %s AND customer_id = %s ORDER BY event_created DESC, id
LIMIT 100
"""
SELECT_USAGE = """
SELECT m.id, m.stripe_event_name,
       coalesce(sum(r.value) FILTER (WHERE r.status = 'reported'), 0),
       coalesce(sum(r.value) FILTER (WHERE r.status = 'pending'), 0)
FROM billing_meters m JOIN usage_reports r ON r.meter_id = m.id
WHERE m.project_id = %s AND r.customer_id = %s
GROUP BY m.id, m.stripe_event_name ORDER BY m.id
"""
SELECT_PERSON = """
SELECT person_id::text FROM analytics.person_distinct_ids_v1
WHERE project_id = %s AND distinct_id = %s
"""
# Newest first; ``type`` matches exactly, or as a prefix when it ends with "." ("invoice.").
SELECT_EVENTS = """
SELECT seq, event_id, type, created, livemode, received_at FROM stripe_events
WHERE project_id = %(project_id)s AND seq < %(before)s
  AND (%(type)s::text IS NULL OR type = %(type)s
       OR (right(%(type)s, 1) = '.' AND starts_with(type, %(type)s)))
ORDER BY seq DESC LIMIT %(limit)s
"""


async def customer_ids(conn: Conn, project_id: int, after: str, limit: int) -> list[str]:
    cur = await conn.execute(SELECT_CUSTOMER_IDS, (project_id, after, limit))
    return [str(r[0]) for r in await cur.fetchall()]


async def subscriptions(conn: Conn, project_id: int, customer_id: str) -> list[SubscriptionOut]:
    cur = await conn.execute(SELECT_SUBSCRIPTIONS, (project_id, customer_id))
    return [SubscriptionOut(*r) for r in await cur.fetchall()]


async def invoices(conn: Conn, project_id: int, customer_id: str) -> list[InvoiceOut]:
    cur = await conn.execute(SELECT_INVOICES, (project_id, customer_id))
    return [InvoiceOut(*r) for r in await cur.fetchall()]


async def usage(conn: Conn, project_id: int, customer_id: str) -> list[MeterTotal]:
    cur = await conn.execute(SELECT_USAGE, (project_id, customer_id))
    return [MeterTotal(*r) for r in await cur.fetchall()]


async def person_of(conn: Conn, project_id: int, distinct_id: str) -> str | None:
    row = await (await conn.execute(SELECT_PERSON, (project_id, distinct_id))).fetchone()
    return str(row[0]) if row else None


async def events(
    conn: Conn, project_id: int, type_: str | None, before: int, limit: int
) -> list[StripeEventOut]:
    params = {"project_id": project_id, "type": type_, "before": before, "limit": limit}
    cur = await conn.execute(SELECT_EVENTS, params)
    return [StripeEventOut(*r) for r in await cur.fetchall()]
