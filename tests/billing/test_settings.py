"""PUT/GET /api/billing/settings: secret-key auth, secrets write-only and sealed at rest."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.billing.factories import admin
from tests.support import Stack

STRIPE_KEY = "sk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
WEBHOOK = "whsec_0123456789abcdefghijklmnopqrstuv"


def test_settings_are_write_only_and_encrypted_at_rest(stack: Stack, bhttp: httpx.Client) -> None:
    project = stack.project()
    before = bhttp.get("/api/billing/settings", headers=admin(project))
    assert before.status_code == 200, before.text
    assert before.json()["stripe_secret_key_set"] is False
    assert before.json()["webhook_path"] == f"/webhooks/stripe/{project.token}"
    r = bhttp.put(
        "/api/billing/settings",
        json={"stripe_secret_key": STRIPE_KEY, "webhook_secret": WEBHOOK, "group_type": "company"},
        headers=admin(project),
    )
    assert r.status_code == 200, r.text
    for answer in (r, bhttp.get("/api/billing/settings", headers=admin(project))):
        body = answer.json()
        assert STRIPE_KEY not in answer.text
        assert WEBHOOK not in answer.text
        assert body["stripe_secret_key_set"]
        assert body["webhook_secret_set"]
        assert STRIPE_KEY.startswith(body["stripe_secret_key_prefix"].rstrip("…"))
        assert len(body["stripe_secret_key_prefix"].rstrip("…")) <= 12
        assert body["group_type"] == "company"
        assert body["distinct_id_field"] == "distinct_id"
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT stripe_secret_key, webhook_secret FROM billing_settings WHERE project_id = %s",
            (project.id,),
        ).fetchone()
    assert row is not None
    for sealed, clear in zip(row, (STRIPE_KEY, WEBHOOK), strict=True):
        assert clear.encode() not in bytes(sealed)
    # Left out: kept. Empty: removed.
    kept = bhttp.put("/api/billing/settings", json={"group_type": ""}, headers=admin(project))
    assert kept.json()["stripe_secret_key_set"] is True
    assert kept.json()["group_type"] is None
    removed = bhttp.put(
        "/api/billing/settings", json={"stripe_secret_key": ""}, headers=admin(project)
    )
    assert removed.json()["stripe_secret_key_set"] is False
    assert removed.json()["stripe_secret_key_prefix"] is None
    assert removed.json()["webhook_secret_set"] is True


def test_settings_need_the_secret_key(stack: Stack, bhttp: httpx.Client) -> None:
    project = stack.project()
    assert bhttp.get("/api/billing/settings").status_code == 401
    token = {"Authorization": f"Bearer {project.token}"}
    assert bhttp.put("/api/billing/settings", json={}, headers=token).status_code == 401


def test_bad_settings_name_the_field(stack: Stack, bhttp: httpx.Client) -> None:
    project = stack.project()

    def fields(body: Any) -> list[str]:
        r = bhttp.put("/api/billing/settings", json=body, headers=admin(project))
        assert r.status_code == 400, r.text
        return [e["field"] for e in r.json()["errors"]]

    assert fields({"webhook_secret": "not-a-whsec"}) == ["webhook_secret"]
    assert fields({"distinct_id_field": ""}) == ["distinct_id_field"]
    assert fields({"typo": 1}) == ["typo"]
    assert fields({"use_client_reference_id": "yes"}) == ["use_client_reference_id"]
