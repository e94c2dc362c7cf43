"""The results dashboard in a real headless Chromium (Debian's, driven by Playwright).

One project is seeded through the public capture API with three experiments: a running one with
three variants and known data over six days, a draft, and one whose exposures don't match its
split. The pages must show the very numbers ``GET /api/experiments/{id}/results`` returns.
Screenshots go to ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from services.experiments import stats
from tests.experiments.factories import event, exposure
from tests.flags.factories import admin, create, multivariate_flag
from tests.support import ARTIFACTS, all_events, wait_for

MINUS = "\u2212"
VARIANTS = {"control": 34, "one-click": 33, "express": 33}
METRICS = [
    {"name": "purchase", "kind": "conversion", "event": "purchase", "window_hours": 72,
     "role": "primary"},
    {"name": "revenue", "kind": "mean", "event": "purchase", "property": "amount"},
    {"name": "page views", "kind": "count", "event": "$pageview", "role": "guardrail"},
]  # fmt: skip
ANALYSIS = {"engine": "bayesian", "min_sample": 10, "min_conversions": 5}


@dataclass
class Seeded:
    project: Any
    running: int
    draft: int
    mismatched: int
    other_project: Any
    other_experiment: int


def _new_experiment(http: httpx.Client, project: Any, body: dict[str, Any]) -> int:
    # The experiments service learns flags from NATS: retry until it knows this one.
    made = wait_for(
        lambda: (
            (r := http.post("/api/experiments", json=body, headers=admin(project))).status_code
            == 201
            and r
        )
    )
    return int(made.json()["id"])


def _launch(http: httpx.Client, project: Any, experiment_id: int) -> None:
    r = http.post(f"/api/experiments/{experiment_id}/launch", headers=admin(project))
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def seeded(stack: Any, server: Any) -> Seeded:
    project = stack.project("dashboard")
    http = httpx.Client(base_url=server.url, timeout=30)
    create(http, project, multivariate_flag("checkout-flow", VARIANTS, {}))
    create(http, project, multivariate_flag("onboarding", {"control": 50, "tour": 50}, {}))
    start = (datetime.now(UTC) - timedelta(days=5, hours=2)).replace(microsecond=0)
    running = _new_experiment(
        http,
        project,
        {
            "name": "Checkout flow <v2>",  # markup in a name must come out as text
            "description": "One-click and express checkout against the current flow.",
            "feature_flag_key": "checkout-flow",
            "metrics": METRICS,
            "analysis": ANALYSIS,
            "start_at": start.isoformat(),
        },
    )
    _launch(http, project, running)
    draft = _new_experiment(
        http,
        project,
        {"name": "Pricing page copy", "feature_flag_key": "checkout-flow", "metrics": METRICS[:1]},
    )
    mismatched = _new_experiment(
        http,
        project,
        {
            "name": "Onboarding tour",
            "feature_flag_key": "onboarding",
            "metrics": [
                {"name": "activated", "kind": "conversion", "event": "activated", "role": "primary"}
            ],
            "analysis": ANALYSIS,
            "start_at": (start + timedelta(days=4)).isoformat(),
        },
    )
    _launch(http, project, mismatched)

    events: list[dict[str, Any]] = []
    # 60 people per variant, first exposed over six days; one-click converts twice as often.
    converts = {
        "control": lambda j: j % 5 == 0,
        "one-click": lambda j: j % 5 in (0, 1),
        "express": lambda j: j % 4 == 0,
    }
    for variant, bought in converts.items():
        for j in range(60):
            user = f"{variant}-{j}"
            t = start + timedelta(days=j % 6, minutes=10 + j)
            events.append(exposure(user, "checkout-flow", variant, t))
            if bought(j):
                amount = float(10 + j % 7)
                events.append(event("purchase", user, t + timedelta(minutes=5), {"amount": amount}))
            events.extend(
                event("$pageview", user, t + timedelta(minutes=1 + k), {}) for k in range(j % 4)
            )
    # 100 people saw control and 40 the tour of a 50/50 flag: a sample ratio mismatch.
    for j in range(140):
        variant = "control" if j < 100 else "tour"
        t = start + timedelta(days=4, hours=1, minutes=j)
        events.append(exposure(f"onboard-{j}", "onboarding", variant, t))
        if j % 3 == 0:
            events.append(event("activated", f"onboard-{j}", t + timedelta(minutes=1), {}))
    # One request, so one writer batch: the days in the past need partitions created on the
    # fly, and two batches in flight while that happens can stall the ingest writer.
    r = http.post("/batch/", json={"api_key": project.token, "batch": events})
    assert r.status_code == 200, r.text
    wait_for(lambda: len(all_events(server.url, project.secret_key)) == len(events), 60)

    other = stack.project("someone else")
    create(http, other, multivariate_flag("theirs", {"a": 50, "b": 50}, {}))
    theirs = _new_experiment(
        http, other, {"name": "Theirs", "feature_flag_key": "theirs", "metrics": METRICS[:1]}
    )
    http.close()
    return Seeded(project, running, draft, mismatched, other, theirs)


@pytest.fixture
def context(browser: Browser, server: Any) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, key: str) -> None:
    page.get_by_label("Secret key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def _cookie(context: BrowserContext) -> dict[str, Any]:
    (cookie,) = [c for c in context.cookies() if c["name"] == "devflow_experiments_session"]
    return dict(cookie)


def _percent(x: float) -> str:
    return f"{x * 100:.1f}%".replace("-", MINUS)


def _effect(x: float) -> str:
    return f"{x * 100:+.1f}%".replace("-", MINUS)


def _table(page: Page) -> dict[str, dict[str, dict[str, dict[str, str | None]]]]:
    """metric -> variant -> field -> {"raw", "text"}, as the browser shows them."""
    rows = page.eval_on_selector_all(
        "section[data-metric] tr[data-variant]",
        """rows => rows.map(tr => [
            tr.closest('section').dataset.metric,
            tr.dataset.variant,
            Object.fromEntries([...tr.querySelectorAll('td[data-field]')].map(td => [
                td.dataset.field, {raw: td.dataset.raw ?? null, text: td.innerText.trim()}]))])""",
    )
    out: dict[str, dict[str, dict[str, dict[str, str | None]]]] = {}
    for metric, variant, fields in rows:
        out.setdefault(metric, {})[variant] = fields
    return out


def test_dashboard_shows_the_api_results(
    page: Page, context: BrowserContext, seeded: Seeded, http: httpx.Client
) -> None:
    page.goto("/experiments")
    expect(page).to_have_url(re.compile(r"/experiments/login\?next=%2Fexperiments$"))
    page.screenshot(path=ARTIFACTS / "dashboard-login.png")
    sign_in(page, seeded.project.secret_key)
    expect(page).to_have_url(re.compile(r"/experiments$"))
    cookie = _cookie(context)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/experiments"

    # The list: every experiment with its status and the primary metric's best treatment.
    rows = page.locator("tr[data-experiment]")
    expect(rows).to_have_count(3)
    running = page.locator(f'tr[data-experiment="{seeded.running}"]')
    expect(running.locator("[data-status]")).to_have_text("Running")
    expect(running.locator("a")).to_have_text("Checkout flow <v2>")
    expect(running.locator('[data-field="exposures"]')).to_have_text("180")
    expect(running).to_contain_text("best: one-click")
    expect(page.locator(f'tr[data-experiment="{seeded.draft}"] [data-status]')).to_have_text(
        "Draft"
    )
    mismatched = page.locator(f'tr[data-experiment="{seeded.mismatched}"]')
    expect(mismatched).to_contain_text("SRM")
    page.screenshot(path=ARTIFACTS / "dashboard-list.png", full_page=True)

    running.locator("a").click()
    expect(page).to_have_url(re.compile(rf"/experiments/{seeded.running}$"))
    expect(page.locator("h1")).to_contain_text("Checkout flow <v2>")

    # The same numbers as the API (served from the same cache the page just filled).
    api = http.get(
        f"/api/experiments/{seeded.running}/results", headers=admin(seeded.project)
    ).json()
    shown = _table(page)
    assert list(shown) == [m["name"] for m in api["metrics"]]
    for metric in api["metrics"]:
        kind = metric["kind"]
        assert list(shown[metric["name"]]) == list(VARIANTS)
        for v in metric["variants"]:
            cells = shown[metric["name"]][v["key"]]
            assert int(cells["exposures"]["raw"] or 0) == v["exposures"] == 60
            assert cells["exposures"]["text"] == f"{v['exposures']:,}"
            assert float(cells["value"]["raw"] or "nan") == pytest.approx(v["value"], rel=1e-12)
            want_value = _percent(v["value"]) if kind == "conversion" else f"{v['value']:.2f}"
            assert 1 <= v["value"] < 100 or kind == "conversion"
            assert cells["value"]["text"] == want_value
            if v["status"] == "control":
                assert cells["effect"]["raw"] is None
                assert cells["effect"]["text"] == "—"
                continue
            assert v["status"] == "ok", (metric["name"], v)
            assert float(cells["effect"]["raw"] or "nan") == pytest.approx(v["effect"], rel=1e-12)
            assert cells["effect"]["text"] == _effect(v["effect"])
            low, high = v["interval"]
            assert cells["interval"]["text"] == f"{_effect(low)}, {_effect(high)}"
            chance = v["chance_to_win"]
            assert 0.001 < chance < 0.999
            assert float(cells["chance_to_win"]["raw"] or "nan") == pytest.approx(chance)
            assert cells["chance_to_win"]["text"] == _percent(chance)
            assert float(cells["risk"]["raw"] or "nan") == pytest.approx(v["risk"][1])
    by_metric = {m["name"]: {v["key"]: v for v in m["variants"]} for m in api["metrics"]}
    purchase = by_metric["purchase"]
    assert purchase["one-click"]["significant"] is True
    expect(
        page.locator('section[data-metric="purchase"] tr[data-variant="one-click"]')
    ).to_contain_text("Winning")
    expect(
        page.locator('section[data-metric="page views"] tr[data-variant="express"]')
    ).to_contain_text("Inconclusive")
    expect(page.locator("[data-health]")).to_have_attribute("data-health", "win")
    expect(page.locator('[data-kpi="exposures"]')).to_have_text("180")

    # Charts: an interval plot per metric with the API's effects and intervals, chance-to-win
    # bars, and the series over time ending on the results' exposures and values.
    plots = page.locator('svg[data-chart="interval"]')
    expect(plots).to_have_count(len(api["metrics"]))
    for metric in api["metrics"]:
        plot = page.locator(f'section[data-metric="{metric["name"]}"] svg[data-chart="interval"]')
        for v in metric["variants"][1:]:
            row = plot.locator(f'g[data-variant="{v["key"]}"]')
            assert float(row.get_attribute("data-effect") or "nan") == pytest.approx(v["effect"])
            assert float(row.get_attribute("data-low") or "nan") == pytest.approx(v["interval"][0])
            assert float(row.get_attribute("data-high") or "nan") == pytest.approx(v["interval"][1])
            expect(row.locator("circle.effect")).to_have_count(1)
            expect(row.locator("line.interval")).to_have_count(1)
    bars = page.locator('svg[data-chart="chance"] g[data-variant]')
    expect(bars).to_have_count(2)
    chance = bars.nth(0).get_attribute("data-chance")
    assert float(chance or "nan") == pytest.approx(purchase["one-click"]["chance_to_win"])
    for key in VARIANTS:
        line = page.locator(f'svg[data-chart="exposures"] g[data-series="{key}"]')
        assert float(line.get_attribute("data-last") or "nan") == 60
        expect(line.locator("circle.dot")).to_have_count(6)  # one per day
        value = page.locator(f'svg[data-chart="primary"] g[data-series="{key}"]')
        assert float(value.get_attribute("data-last") or "nan") == pytest.approx(
            purchase[key]["value"]
        )
    page.screenshot(path=ARTIFACTS / "dashboard-detail.png", full_page=True)

    # The calculator: Evan Miller's own example (20% baseline, 5 points, 5%, 80%) is 1,030.
    calculator = page.locator("#calculator")
    calculator.get_by_label("Baseline conversion").fill("20")
    calculator.get_by_label("Minimum detectable effect").fill("5")
    calculator.get_by_label("Effect is").select_option("absolute")
    calculator.get_by_label("Significance level").fill("5")
    calculator.get_by_label("Power").fill("80")
    calculator.get_by_label("People per day").fill("250")
    calculator.get_by_label("Variants").fill("3")
    calculator.get_by_role("button", name="Calculate").click()
    expect(page).to_have_url(re.compile(r"baseline=20&mde=5&mde_kind=absolute"))
    expect(page.locator('[data-calc="per_variant"]')).to_have_text("1,030")
    expect(page.locator('[data-calc="total"]')).to_have_text("3,090")
    assert stats.running_days(1030, 3, 250) == 13
    expect(page.locator('[data-calc="days"]')).to_have_text("13")
    page.locator("#calculator").screenshot(path=ARTIFACTS / "dashboard-calculator.png")
    calculator.get_by_label("Baseline conversion").fill("120")
    calculator.get_by_role("button", name="Calculate").click()
    expect(page.locator("[data-calc-error]")).to_have_text(
        "The baseline must be between 0% and 100%."
    )

    # Narrow screens: nothing runs off the side.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/experiments/{seeded.running}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=ARTIFACTS / "dashboard-detail-mobile.png", full_page=True)
    page.goto("/experiments")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=ARTIFACTS / "dashboard-list-mobile.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Signing out drops the session: the pages send you back to the login.
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("[data-signed-out]")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "devflow_experiments_session"]
    page.goto(f"/experiments/{seeded.running}")
    expect(page).to_have_url(re.compile(r"/experiments/login\?next="))


def test_draft_and_mismatch_pages(page: Page, seeded: Seeded) -> None:
    page.goto(f"/experiments/{seeded.mismatched}")
    sign_in(page, seeded.project.secret_key)  # and back to where we were going
    expect(page).to_have_url(re.compile(rf"/experiments/{seeded.mismatched}$"))
    banner = page.locator("[data-health]")
    expect(banner).to_have_attribute("data-health", "lose")
    expect(banner).to_contain_text("Sample ratio mismatch")
    expect(page.locator('[data-kpi="exposures"]')).to_have_text("140")
    page.screenshot(path=ARTIFACTS / "dashboard-mismatch.png", full_page=True)

    page.goto(f"/experiments/{seeded.draft}")
    expect(page.locator("[data-status]").first).to_have_text("Draft")
    expect(page.get_by_text("Not launched yet")).to_be_visible()
    expect(page.locator("svg[data-chart]")).to_have_count(0)
    expect(page.locator('[data-calc="per_variant"]')).to_be_visible()

    # Another project's experiment does not exist for this session.
    page.goto(f"/experiments/{seeded.other_experiment}")
    expect(page.get_by_text(f"No experiment {seeded.other_experiment}")).to_be_visible()


def test_unauthenticated_requests_go_to_the_login(
    http: httpx.Client, seeded: Seeded, page: Page
) -> None:
    for path in ("/experiments", f"/experiments/{seeded.running}?baseline=3"):
        r = http.get(path)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/experiments/login?next=")
    # The login never sends anyone off-site.
    login = page.goto("/experiments/login?next=https://evil.example/")
    assert login is not None
    assert login.status == 200
    expect(page.locator('input[name="next"]')).to_have_value("/experiments")
    # The JSON API still wants the Bearer key, whatever cookie comes along.
    page.goto("/experiments/login")
    sign_in(page, seeded.project.secret_key)
    cookie = _cookie(page.context)
    api = http.get("/api/experiments", headers={"Cookie": f"{cookie['name']}={cookie['value']}"})
    assert api.status_code == 401


def test_a_wrong_key_shows_an_error(page: Page, seeded: Seeded, context: BrowserContext) -> None:
    page.goto("/experiments/login")
    with page.expect_response(lambda r: r.request.method == "POST") as response:
        sign_in(page, "phs_not-a-real-key")
    assert response.value.status == 401
    expect(page.locator("[data-error]")).to_have_text("That secret key is not valid.")
    page.screenshot(path=ARTIFACTS / "dashboard-login-error.png")
    sign_in(page, seeded.project.token)  # the public token is not enough
    expect(page.locator("[data-error]")).to_contain_text("public token")
    assert not context.cookies()
    expect(page).to_have_url(re.compile(r"/experiments/login$"))


def test_a_tampered_cookie_is_refused(
    browser: Browser, server: Any, seeded: Seeded, http: httpx.Client
) -> None:
    first = browser.new_context(base_url=server.url)
    page = first.new_page()
    page.goto("/experiments/login")
    sign_in(page, seeded.project.secret_key)
    expect(page.locator("tr[data-experiment]")).to_have_count(3)
    good = _cookie(first)
    first.close()
    project_id, expires, mac = good["value"].split(".")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    forged = {
        "mac changed": f"{project_id}.{expires}.{flipped}",
        "other project": f"{seeded.other_project.id}.{expires}.{mac}",
        "longer expiry": f"{project_id}.{int(expires) + 86400}.{mac}",
        "expired": f"{project_id}.1.{mac}",
        "garbage": "not-a-session",
        "no mac": f"{project_id}.{expires}",
    }
    for why, value in forged.items():
        r = http.get("/experiments", headers={"Cookie": f"{good['name']}={value}"})
        assert r.status_code == 303, why
        assert r.headers["location"].startswith("/experiments/login"), why
        assert "Max-Age=0" in r.headers.get("set-cookie", ""), why  # and it is dropped
    valid = http.get("/experiments", headers={"Cookie": f"{good['name']}={good['value']}"})
    assert valid.status_code == 200

    # In the browser too: a tampered cookie lands on the login page.
    tampered = browser.new_context(base_url=server.url)
    tampered.add_cookies([{**good, "value": forged["mac changed"]}])  # type: ignore[list-item]
    page = tampered.new_page()
    page.goto(f"/experiments/{seeded.running}")
    expect(page).to_have_url(re.compile(r"/experiments/login\?next="))
    expect(page.get_by_label("Secret key")).to_be_visible()
    tampered.close()
