"""Billing use cases behind the HTTP API: the project's Stripe settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from schemas.api import FieldError
from schemas.billing import BillingSettingsIn, BillingSettingsOut
from services.billing.errors import InvalidSettings, NoEncryptionKey
from services.billing.repo import settings as repo
from services.billing.state import state_of

if TYPE_CHECKING:
    from services.core.service import Context

MAX_SECRET = 500
MAX_FIELD = 100
# How much of a secret the API shows: enough to tell keys apart, never enough to use one.
PREFIX_CHARS = 12
_DEFAULTS = repo.SettingsRow(
    project_id=0,
    stripe_secret_key=None,
    stripe_secret_key_prefix=None,
    webhook_secret=None,
    webhook_secret_prefix=None,
    distinct_id_field="distinct_id",
    use_client_reference_id=False,
    group_type=None,
    group_key_field="group_key",
    updated_at=None,
)


async def get_settings(ctx: Context, project_id: int, token: str) -> BillingSettingsOut:
    async with ctx.pool.connection() as conn:
        row = await repo.select_settings(conn, project_id)
    return _out(row or msgspec.structs.replace(_DEFAULTS, project_id=project_id), token)


async def put_settings(
    ctx: Context, project_id: int, token: str, body: BillingSettingsIn
) -> BillingSettingsOut:
    """Merge ``body`` into the stored settings; secrets are sealed before they are stored."""
    _check(body)
    async with ctx.pool.connection() as conn, conn.transaction():
        row = await repo.select_settings(conn, project_id, for_update=True)
        row = row or msgspec.structs.replace(_DEFAULTS, project_id=project_id)
        changes: dict[str, object] = {}
        for name in ("stripe_secret_key", "webhook_secret"):
            value = getattr(body, name)
            if value is not None:
                changes[name] = _seal(ctx, project_id, name, value) if value else None
                changes[f"{name}_prefix"] = _prefix(value) if value else None
        for name in ("distinct_id_field", "use_client_reference_id", "group_key_field"):
            if getattr(body, name) is not None:
                changes[name] = getattr(body, name)
        if body.group_type is not None:
            changes["group_type"] = body.group_type or None
        row = await repo.upsert_settings(conn, msgspec.structs.replace(row, **changes))
    return _out(row, token)


async def stripe_secret_key(ctx: Context, project_id: int) -> str | None:
    """The project's Stripe secret key in clear (for calls to Stripe), or None."""
    async with ctx.pool.connection() as conn:
        row = await repo.select_settings(conn, project_id)
    box = state_of(ctx).box
    if row is None or row.stripe_secret_key is None or box is None:
        return None
    return box.open(row.stripe_secret_key, f"{project_id}:stripe_secret_key")


def _seal(ctx: Context, project_id: int, name: str, value: str) -> bytes:
    box = state_of(ctx).box
    if box is None:
        raise NoEncryptionKey(
            "set DEVFLOW_BILLING_ENCRYPTION_KEY (devflow up makes one itself) to store secrets",
            [FieldError(name, "no encryption key is configured")],
        )
    return box.seal(value, f"{project_id}:{name}")


def _prefix(secret: str) -> str:
    return secret[: min(PREFIX_CHARS, len(secret) // 3)] + "…"


def _check(body: BillingSettingsIn) -> None:
    errors = []
    for name in ("stripe_secret_key", "webhook_secret"):
        value = getattr(body, name)
        if value is not None and (len(value) > MAX_SECRET or value != value.strip()):
            errors.append(FieldError(name, f"at most {MAX_SECRET} characters, no blanks around"))
    if body.webhook_secret and not body.webhook_secret.startswith("whsec_"):
        errors.append(FieldError("webhook_secret", "a Stripe webhook secret starts with whsec_"))
    for name in ("distinct_id_field", "group_key_field"):
        value = getattr(body, name)
        if value is not None and not 1 <= len(value) <= MAX_FIELD:
            errors.append(FieldError(name, f"1 to {MAX_FIELD} characters"))
    if body.group_type is not None and len(body.group_type) > MAX_FIELD:
        errors.append(FieldError("group_type", f"at most {MAX_FIELD} characters"))
    if errors:
        raise InvalidSettings("invalid billing settings", errors)


def _out(row: repo.SettingsRow, token: str) -> BillingSettingsOut:
    return BillingSettingsOut(
        stripe_secret_key_set=row.stripe_secret_key is not None,
        stripe_secret_key_prefix=row.stripe_secret_key_prefix,
        webhook_secret_set=row.webhook_secret is not None,
        webhook_secret_prefix=row.webhook_secret_prefix,
        distinct_id_field=row.distinct_id_field,
        use_client_reference_id=row.use_client_reference_id,
        group_type=row.group_type,
        group_key_field=row.group_key_field,
        webhook_path=f"/webhooks/stripe/{token}",
        updated_at=row.updated_at,
    )
