"""``devflow billing sync`` (a running platform's backfill from Stripe, its progress printed as
it streams) and ``devflow billing report-usage`` (the metering job, run here once)."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import msgspec

from services.core.errors import StartupError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from pathlib import Path


def add_parser(
    sub: Any,
    *,
    sync: Callable[[argparse.Namespace], int],
    report_usage: Callable[[argparse.Namespace], int],
) -> None:
    """``devflow billing ...`` under the CLI's subcommands."""
    parser = sub.add_parser("billing", help="the billing service")
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    one = actions.add_parser(
        "sync", help="seed the billing projection from Stripe (needs a running platform)"
    )
    one.add_argument("--url", default=None, help="platform URL (default: the running up)")
    one.add_argument(
        "--project", type=int, default=None, help="project id (default: the default project)"
    )
    one.add_argument("--data-dir", default=None)
    one.set_defaults(func=sync)
    two = actions.add_parser("report-usage", help="report every closed metering window now")
    two.add_argument("--project", type=int, default=None, help="one project (default all)")
    two.add_argument("--data-dir", default=None)
    two.set_defaults(func=report_usage)


def sync(url: str, secret_key: str, project_name: str) -> None:
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's platform
        f"{url}/api/billing/sync",
        method="POST",
        headers={"Authorization": f"Bearer {secret_key}"},
    )
    try:
        response = urllib.request.urlopen(request)  # noqa: S310 - as above
    except urllib.error.HTTPError as exc:
        raise StartupError(f"sync refused ({exc.code}): {exc.read().decode()}") from None
    except urllib.error.URLError as exc:
        raise StartupError(f"cannot reach {url}: {exc.reason}") from None
    with response:
        for line in response:
            progress = msgspec.json.decode(line) if line.strip() else {}
            if "error" in progress:
                raise StartupError(f"sync stopped: {progress['error']} (run it again to resume)")
            if progress.get("done"):
                counts = ", ".join(f"{v} {k}" for k, v in progress.items() if k != "done")
                print(f"synced {counts or 'nothing'} into project {project_name!r}")
            elif progress:
                print(f"  {progress['kind']:<13} {progress['synced']:>7} ({progress['new']} new)")


def report_usage(database_url: str, project_id: int | None, data_path: Path) -> None:
    """Run the metering job once, here, for every closed window (no server needed). The key
    of `devflow up`'s data directory is used when none is set."""
    import asyncio

    import psycopg

    from services.billing import metering
    from services.billing.config import BillingConfig
    from services.billing.crypto import KEY_ENV, KEY_FILE, local_key
    from services.billing.state import BillingState

    if not os.environ.get(KEY_ENV) and (data_path / KEY_FILE).exists():
        os.environ[KEY_ENV] = local_key(data_path)

    state = BillingState.from_config(BillingConfig.from_env())
    if state.box is None:
        raise StartupError("DEVFLOW_BILLING_ENCRYPTION_KEY is not set: the Stripe keys are sealed")

    async def run() -> metering.MeteringResult:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            return await metering.report_usage(
                conn, state.box, state.config.stripe_api_base, project_id
            )

    result = asyncio.run(run())
    print(
        f"usage reports: {result.planned} new, {result.reported} sent, "
        f"{result.pending} pending (Stripe unavailable), {result.failed} failed"
    )
