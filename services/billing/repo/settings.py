"""SQL of each project's billing settings."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from services.billing.repo._conn import Conn


class SettingsRow(msgspec.Struct, frozen=True):
    project_id: int
    stripe_secret_key: bytes | None
    stripe_secret_key_prefix: str | None
    webhook_secret: bytes | None
    webhook_secret_prefix: str | None
    distinct_id_field: str
    use_client_reference_id: bool
    group_type: str | None
    group_key_field: str
    updated_at: datetime | None


_COLUMNS = """
project_id, stripe_secret_key, stripe_secret_key_prefix, webhook_secret, webhook_secret_prefix,
distinct_id_field, use_client_reference_id, group_type, group_key_field, updated_at
"""
SELECT_SETTINGS = f"SELECT {_COLUMNS} FROM billing_settings WHERE project_id = %s"
UPSERT_SETTINGS = f"""
INSERT INTO billing_settings ({_COLUMNS})
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT (project_id) DO UPDATE SET
    stripe_secret_key = EXCLUDED.stripe_secret_key,
    stripe_secret_key_prefix = EXCLUDED.stripe_secret_key_prefix,
    webhook_secret = EXCLUDED.webhook_secret,
    webhook_secret_prefix = EXCLUDED.webhook_secret_prefix,
    distinct_id_field = EXCLUDED.distinct_id_field,
    use_client_reference_id = EXCLUDED.use_client_reference_id,
    group_type = EXCLUDED.group_type,
    group_key_field = EXCLUDED.group_key_field,
    updated_at = now()
RETURNING {_COLUMNS}
"""


async def select_settings(
    conn: Conn, project_id: int, *, for_update: bool = False
) -> SettingsRow | None:
    query = SELECT_SETTINGS + (" FOR UPDATE" if for_update else "")
    row = await (await conn.execute(query, (project_id,))).fetchone()
    return SettingsRow(*row) if row else None


async def upsert_settings(conn: Conn, row: SettingsRow) -> SettingsRow:
    values = msgspec.structs.astuple(row)[:-1]
    out = await (await conn.execute(UPSERT_SETTINGS, values)).fetchone()
    assert out is not None
    return SettingsRow(*out)
