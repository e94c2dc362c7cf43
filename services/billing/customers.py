"""Billing's read API: customers (filtered by plan and status), one customer in full, and the
event log."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import msgspec

from schemas.api import FieldError
from schemas.billing import CustomerDetail, CustomerList, CustomerOut, StripeEventList
from services.billing.errors import CustomerNotFound, InvalidQuery
from services.billing.properties import CustomerState, billing_state
from services.billing.repo import reads
from services.core import cursors

if TYPE_CHECKING:
    from services.core.service import Context

P = TypeVar("P", bound=msgspec.Struct)
MAX_PAGE = 200
# Customers read per round when filters leave a page short.
_SCAN = 200


class _After(msgspec.Struct, array_like=True):
    id: str


class _Before(msgspec.Struct, array_like=True):
    seq: int


async def list_customers(
    ctx: Context,
    project_id: int,
    plan: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> CustomerList:
    """Customers in id order whose current plan and status match (when given)."""
    _check_limit(limit)
    after = _cursor(cursor, _After).id if cursor else ""
    out: list[CustomerOut] = []
    more = True
    async with ctx.pool.connection() as conn:
        while more and len(out) < limit:
            ids = await reads.customer_ids(conn, project_id, after, _SCAN)
            # More to read after this round unless it came back short and is read to the end.
            more = len(ids) == _SCAN
            for i, cid in enumerate(ids):
                after = cid
                state = await billing_state(conn, project_id, cid)
                if state is not None and _matches(state, plan, status):
                    out.append(_customer(state))
                if len(out) == limit:
                    more = more or i < len(ids) - 1
                    break
    return CustomerList(out, cursors.encode(_After(after)) if more else None)


async def get_customer(ctx: Context, project_id: int, customer_id: str) -> CustomerDetail:
    async with ctx.pool.connection() as conn:
        state = await billing_state(conn, project_id, customer_id)
        if state is None:
            raise CustomerNotFound(
                "no such customer", [FieldError("customer_id", "not in the projection")]
            )
        subs = await reads.subscriptions(conn, project_id, customer_id)
        invoices = await reads.invoices(conn, project_id, customer_id)
        usage = await reads.usage(conn, project_id, customer_id)
        person = (
            await reads.person_of(conn, project_id, state.distinct_id)
            if state.distinct_id
            else None
        )
    return CustomerDetail(
        customer=_customer(state),
        metadata=state.customer.metadata,
        person_id=person,
        subscriptions=subs,
        invoices=invoices,
        usage=usage,
    )


async def list_events(
    ctx: Context, project_id: int, type_: str | None, limit: int, cursor: str | None
) -> StripeEventList:
    """The log, newest first; ``type`` exact, or a prefix ending in "." (``invoice.``)."""
    _check_limit(limit)
    before = _cursor(cursor, _Before).seq if cursor else 2**62
    async with ctx.pool.connection() as conn:
        rows = await reads.events(conn, project_id, type_ or None, before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return StripeEventList(
        rows,
        cursors.encode(_Before(rows[-1].seq)) if more else None,
    )


def _matches(state: CustomerState, plan: str | None, status: str | None) -> bool:
    return (plan is None or state.plan.plan == plan) and (
        status is None or state.plan.status == status
    )


def _customer(state: CustomerState) -> CustomerOut:
    c = state.customer
    return CustomerOut(
        id=c.id,
        email=c.email,
        name=c.name,
        deleted=c.deleted,
        distinct_id=state.distinct_id,
        group_key=state.group_key,
        plan=state.plan.plan,
        status=state.plan.status,
        mrr=state.plan.mrr,
        currency=state.plan.currency,
        entitlements=state.entitlements,
    )


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"limit must be 1 to {MAX_PAGE}", [FieldError("limit", "out of range")])


def _cursor(value: str, kind: type[P]) -> P:
    position = cursors.decode(value, kind)
    if position is None:
        raise InvalidQuery("the cursor is not valid", [FieldError("cursor", "not ours")])
    return position
