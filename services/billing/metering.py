"""Usage metering: each meter's usage per linked customer and closed window, reported to
Stripe's meter events exactly once.

A run, per meter: compute every closed window's total since the meter starts (at most
:data:`LOOKBACK` back, the age Stripe accepts), compare it with what was reported, and write a
``pending`` report for each difference: the first report of a window (``seq`` 1), or a
correction once late events changed its total (``seq`` 2, 3, ...). Then send the pending
reports, each with the identifier ``devflow-<project>-<meter>-<customer>-<window>-<seq>``.
The report is durable before Stripe is called, and Stripe refuses a second event with an
identifier it has, so a run killed mid-call sends again on the next run and that answer
("already exists") marks the report done: never lost, never counted twice. 429 and 5xx leave the
report pending for the next run (after the library's retries and our back-off); another 4xx
marks it ``failed`` with Stripe's message, shown with the meter.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import stripe

from services.billing import stripe_api
from services.billing.repo import meters as repo
from services.billing.repo import settings as settings_repo

if TYPE_CHECKING:
    from services.billing.crypto import SecretBox
    from services.billing.repo import Conn

log = logging.getLogger("devflow.billing.metering")
# Stripe accepts meter events up to 35 days old; keep a day's margin.
LOOKBACK = timedelta(days=34)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class MeteringResult:
    planned: int = 0
    reported: int = 0
    pending: int = 0
    failed: int = 0

    def add(self, other: MeteringResult) -> None:
        self.planned += other.planned
        self.reported += other.reported
        self.pending += other.pending
        self.failed += other.failed


def window_start(at: datetime, window_s: int) -> datetime:
    return _EPOCH + timedelta(seconds=int((at - _EPOCH).total_seconds()) // window_s * window_s)


async def report_usage(
    conn: Conn,
    box: SecretBox | None,
    api_base: str,
    project_id: int | None = None,
    now: datetime | None = None,
) -> MeteringResult:
    """Plan and send the reports of every meter (of ``project_id``, or all) for closed windows.
    ``conn`` must not be in a transaction: each step is a transaction of its own."""
    now = now or datetime.now(UTC)
    total = MeteringResult()
    async with conn.transaction():
        meters = await repo.select_meters(conn, project_id)
    for meter in meters:
        async with conn.transaction():
            key = await _secret_key(conn, box, meter.project_id)
        if key is None:
            log.warning("meter %s: the project has no usable Stripe secret key", meter.id)
            continue
        total.add(await _run_meter(conn, meter, stripe_api.client(key, api_base), now))
    return total


async def _secret_key(conn: Conn, box: SecretBox | None, project_id: int) -> str | None:
    row = await settings_repo.select_settings(conn, project_id)
    if row is None or row.stripe_secret_key is None or box is None:
        return None
    return box.open(row.stripe_secret_key, f"{project_id}:stripe_secret_key")


async def _run_meter(
    conn: Conn, meter: repo.MeterRow, client: stripe.StripeClient, now: datetime
) -> MeteringResult:
    out = MeteringResult()
    until = window_start(now, meter.window_s)
    since = max(window_start(meter.starts_at, meter.window_s), until - LOOKBACK)
    async with conn.transaction():
        if not await repo.try_lock(conn, meter.id):
            return out  # another reporter holds this meter; it sends what is pending too
        usage = await repo.select_usage(conn, meter, since, until)
        reported = await repo.select_reported(conn, meter.id, since)
        for (customer, start), value in sorted(usage.items()):
            done, seq = reported.get((customer, start), (0.0, 0))
            if abs(value - done) < 1e-9:
                continue
            report = repo.ReportRow(
                customer_id=customer,
                window_start=start,
                seq=seq + 1,
                value=value - done,
                identifier=_identifier(meter, customer, start, seq + 1),
            )
            await repo.insert_report(conn, meter, report)
            out.planned += 1
    async with conn.transaction():
        pending = await repo.select_pending(conn, meter.id)
    for report in pending:
        status, error = await _send(client, meter, report)
        async with conn.transaction():
            if status == "reported":
                await repo.mark_reported(conn, report.identifier)
            else:
                await repo.mark_attempt(conn, report.identifier, status, error)
        setattr(out, status, getattr(out, status) + 1)
        if status == "pending":
            break  # Stripe is unwell: the rest waits for the next run
    return out


async def _send(
    client: stripe.StripeClient, meter: repo.MeterRow, report: repo.ReportRow
) -> tuple[str, str]:
    """("reported" | "pending" | "failed", error)."""
    params: Any = {
        "event_name": meter.stripe_event_name,
        "identifier": report.identifier,
        "timestamp": int(report.window_start.timestamp()),
        "payload": {"stripe_customer_id": report.customer_id, "value": _number(report.value)},
    }
    try:
        await asyncio.to_thread(
            stripe_api.call, lambda: client.v1.billing.meter_events.create(params)
        )
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_already_exists":
            return "reported", ""  # sent before a crash: Stripe has it
        return "failed", f"{exc.http_status}: {exc.user_message or exc}"
    except (stripe.RateLimitError, stripe.APIError, stripe.APIConnectionError) as exc:
        return "pending", f"{type(exc).__name__}: {exc.user_message or exc}"
    except stripe.StripeError as exc:
        return "failed", f"{exc.http_status}: {exc.user_message or exc}"
    return "reported", ""


def _identifier(meter: repo.MeterRow, customer: str, start: datetime, seq: int) -> str:
    return f"devflow-{meter.project_id}-{meter.id}-{customer}-{int(start.timestamp())}-{seq}"


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
