"""``devflow billing sync`` (a running platform's backfill from Stripe, its progress printed as
it streams) and ``devflow billing report-usage`` (the metering job, run here once)."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import msgspec

from services.core.errors import StartupError
from services.core.settings import Settings, read

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from pathlib import Path

    from schemas.api import ProjectOut


def add_parser(
    sub: Any,
    *,
    platform_project: Callable[[argparse.Namespace], tuple[str, ProjectOut]],
    database: Callable[[argparse.Namespace], AbstractContextManager[str]],
) -> None:
    """``devflow billing sync`` and ``devflow billing report-usage`` under the CLI's commands;
    ``platform_project`` and ``database`` are the CLI's ways to find a platform and a database."""
    parser = sub.add_parser("billing", help="the billing service")
    actions = parser.add_subparsers(required=True, metavar="ACTION")

    def cmd_sync(args: argparse.Namespace) -> int:
        url, project = platform_project(args)
        sync(url, project.secret_key, project.name)
        return 0

    def cmd_report_usage(args: argparse.Namespace) -> int:
        use_local_key(Settings.from_env(data_dir=args.data_dir).data_path, create=False)
        with database(args) as url:
            report_usage(url, args.project)
        return 0

    one = actions.add_parser(
        "sync", help="seed the billing projection from Stripe (needs a running platform)"
    )
    one.add_argument("--url", default=None, help="platform URL (default: the running up)")
    one.add_argument(
        "--project", type=int, default=None, help="project id (default: the default project)"
    )
    one.add_argument("--data-dir", default=None)
    one.set_defaults(func=cmd_sync)
    two = actions.add_parser("report-usage", help="report every closed metering window now")
    two.add_argument("--project", type=int, default=None, help="one project (default all)")
    two.add_argument("--data-dir", default=None)
    two.set_defaults(func=cmd_report_usage)


def use_local_key(data_dir: Path, *, create: bool = True) -> None:
    """Zero setup for `devflow up`: billing's encryption key, unless set, is the one kept in the
    data directory (made on first start when ``create``), so stored secrets survive restarts."""
    # Imported here: the CLI loads a service only when a command needs it.
    from services.billing.crypto import KEY_ENV, KEY_FILE, local_key

    if not os.environ.get(KEY_ENV) and (create or (data_dir / KEY_FILE).exists()):
        os.environ[KEY_ENV] = local_key(data_dir)


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


def report_usage(database_url: str, project_id: int | None) -> None:
    """Run the metering job once, here, for every closed window (no server needed)."""
    import asyncio

    import psycopg

    from services.billing import metering
    from services.billing.config import BillingConfig
    from services.billing.state import BillingState

    state = BillingState.from_config(read(BillingConfig))
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
