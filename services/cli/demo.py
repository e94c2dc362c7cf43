"""``devflow demo experiment``: a realistic experiment, seeded through the public APIs.

A multivariate flag (``demo-checkout``: control, a green button, a one-page checkout), an
experiment on it that started two weeks ago with a conversion, a revenue, a ratio, a funnel and
a guardrail metric, and the people behind it: each is exposed once on a random day, browses, some
start a checkout and some buy, and a third of them were already active in the week before the
start (the CUPED pre-period). Everything goes through ``/api/feature_flags``,
``/api/experiments`` and ``/batch/``, exactly as an application and its SDK would send it, so the
dashboard shows what the platform computed, not numbers written into its tables.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.core.errors import DevflowError

FLAG = "demo-checkout"
VARIANTS = [("control", 34), ("green-button", 33), ("one-page", 33)]
# Per variant: chance to start a checkout, to finish it, and the mean order value.
BEHAVIOUR = {
    "control": (0.30, 0.40, 52.0),
    "green-button": (0.31, 0.41, 52.0),
    "one-page": (0.30, 0.50, 54.0),
}
DAYS = 14
BATCH = 500


class DemoError(DevflowError):
    """The platform refused or could not be reached; printed as one line."""


class _Api:
    def __init__(self, url: str, token: str, secret_key: str) -> None:
        self.url, self.token, self.secret_key = url.rstrip("/"), token, secret_key

    def call(self, method: str, path: str, body: Any = None, *, admin: bool = True) -> Any:
        """Send one request to the platform; the decoded JSON answer, or :class:`DemoError`."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if admin:
            headers["Authorization"] = f"Bearer {self.secret_key}"
        request = urllib.request.Request(  # noqa: S310 - the platform's own URL
            self.url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise DemoError(
                f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')[:300]}"
            ) from None
        except urllib.error.URLError as exc:
            raise DemoError(
                f"cannot reach {self.url}: {exc.reason}; is `devflow up` running?"
            ) from None
        return json.loads(raw) if raw else None


def seed(url: str, token: str, secret_key: str, people: int, seed_value: int = 7) -> int:
    """Create the flag, the experiment and its events; returns the experiment id."""
    api = _Api(url, token, secret_key)
    rng = random.Random(seed_value)  # noqa: S311 - demo data, not secrets
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=DAYS)
    _ensure_flag(api)
    experiment = _experiment(api, start)
    events: list[dict[str, Any]] = []
    sent = 0
    for i in range(people):
        events.extend(_person(rng, i, start, now))
        if len(events) >= BATCH:
            api.call("POST", "/batch/", {"api_key": token, "batch": events}, admin=False)
            sent += len(events)
            events = []
    if events:
        api.call("POST", "/batch/", {"api_key": token, "batch": events}, admin=False)
        sent += len(events)
    print(f"captured {sent:,} events for {people:,} people")
    return int(experiment["id"])


def _ensure_flag(api: _Api) -> None:
    body = {
        "key": FLAG,
        "name": "Checkout redesign",
        "filters": {
            "groups": [{"properties": [], "rollout_percentage": 100}],
            "multivariate": {
                "variants": [{"key": k, "rollout_percentage": p} for k, p in VARIANTS]
            },
        },
        "reason": "devflow demo experiment",
    }
    try:
        api.call("POST", "/api/feature_flags", body)
    except DemoError as exc:
        if "key is taken" not in str(exc):
            raise


def _experiment(api: _Api, start: datetime) -> dict[str, Any]:
    amount = {"name": "order value", "kind": "sum", "event": "purchase", "property": "amount"}
    orders = {"name": "orders", "kind": "count", "event": "purchase"}
    body = {
        "name": "Checkout redesign",
        "description": "Does a green button or a one-page checkout sell more? (demo data)",
        "feature_flag_key": FLAG,
        "start_at": start.isoformat(),
        "metrics": [
            {
                "name": "purchase",
                "kind": "conversion",
                "event": "purchase",
                "window_hours": 168,
                "role": "primary",
            },
            {
                "name": "revenue per user",
                "kind": "mean",
                "event": "purchase",
                "property": "amount",
                "role": "secondary",
            },
            {
                "name": "revenue per order",
                "kind": "ratio",
                "numerator": amount,
                "denominator": orders,
                "role": "secondary",
            },
            {
                "name": "checkout funnel",
                "kind": "funnel",
                "steps": ["$pageview", "checkout started", "purchase"],
                "window_hours": 24,
                "role": "secondary",
            },
            {
                "name": "support tickets",
                "kind": "count",
                "event": "support ticket",
                "role": "guardrail",
                "inverse": True,
            },
        ],
        "analysis": {"engine": "bayesian", "confidence": 0.95, "cuped": True, "pre_period_days": 7},
    }
    # The experiments service learns the flag from NATS; give it a moment on a fresh platform.
    deadline = time.monotonic() + 30
    while True:
        try:
            experiment: dict[str, Any] = api.call("POST", "/api/experiments", body)
            break
        except DemoError as exc:
            if "feature_flag_key" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    api.call("POST", f"/api/experiments/{experiment['id']}/launch")
    return experiment


def _person(rng: random.Random, i: int, start: datetime, now: datetime) -> list[dict[str, Any]]:
    user = f"demo-user-{i}"
    variant = rng.choices([k for k, _ in VARIANTS], weights=[p for _, p in VARIANTS])[0]
    p_checkout, p_buy, mean_value = BEHAVIOUR[variant]
    seen = start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds() - 3600))
    out = []
    if rng.random() < 0.35:  # active before the experiment: the CUPED covariate
        before = start - timedelta(days=rng.uniform(0.1, 6.9))
        out.append(_event("purchase", user, before, {"amount": round(rng.gammavariate(2, 25), 2)}))
    out.append(
        _event(
            "$feature_flag_called",
            user,
            seen,
            {"$feature_flag": FLAG, "$feature_flag_response": variant},
        )
    )
    at = seen + timedelta(seconds=rng.uniform(1, 30))
    out.append(_event("$pageview", user, at, {"$current_url": "https://shop.example/cart"}))
    if rng.random() < p_checkout:
        at += timedelta(minutes=rng.uniform(1, 20))
        out.append(_event("checkout started", user, at, {}))
        if rng.random() < p_buy:
            at += timedelta(minutes=rng.uniform(1, 30))
            amount = round(rng.gammavariate(2.0, mean_value / 2.0), 2)
            out.append(_event("purchase", user, at, {"amount": amount}))
    if rng.random() < 0.02:
        out.append(_event("support ticket", user, at + timedelta(hours=1), {}))
    return [e for e in out if datetime.fromisoformat(e["timestamp"]) < now]


def _event(name: str, distinct_id: str, ts: datetime, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": name,
        "distinct_id": distinct_id,
        "timestamp": ts.isoformat(),
        "uuid": str(uuid.uuid4()),
        "properties": props,
    }
