"""The player pages in a real headless Chromium (Debian's, driven by Playwright).

A recording with a meta event, a full snapshot of a small page, mouse moves, typing, clicks and a
console error is sent through ``POST /s``, with a page view, an autocapture click and a custom
event on the same session through ``/batch``. The list must show it; the player must play it
(a positive total time, the recorded page inside its iframe) beside a clickable timeline.
Screenshots go to ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.replay.factories import T0, iso, recording, send, wait_replay
from tests.support import ARTIFACTS, ROOT, wait_for

PLAYER_JS = ROOT / "services/replay/web/node_modules/rrweb-player/dist/rrweb-player.umd.min.cjs"
COOKIE = "devflow_replays_session"


def _event(name: str, sid: str, at_ms: int, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": name,
        "distinct_id": "shopper-7",
        "uuid": str(uuid.uuid4()),
        "timestamp": iso(at_ms),
        "properties": {"$session_id": sid, **props},
    }


@pytest.fixture(scope="module")
def seeded(stack: Any, server: Any) -> tuple[Any, str]:
    project = stack.project("player")
    sid = str(uuid.uuid4())
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert send(http, project, sid, recording(), distinct_id="shopper-7")
        events = [
            _event("$pageview", sid, T0 + 100, {"$current_url": "https://shop.example/",
                                                "$pathname": "/"}),
            _event("$autocapture", sid, T0 + 4050, {"$event_type": "click", "$el_text": "Buy"}),
            _event("added_to_cart", sid, T0 + 6000, {"sku": "hat-1"}),
        ]  # fmt: skip
        r = http.post("/batch/", json={"api_key": project.token, "batch": events})
        assert r.status_code == 200, r.text
        wait_replay(http, project, sid, click_count=2)
        headers = {"Authorization": f"Bearer {project.secret_key}"}
        wait_for(
            lambda: (
                len(http.get(f"/api/replays/{sid}/events", headers=headers).json()["results"]) == 3
            ),
            30,
        )
    return project, sid


@pytest.fixture(scope="module", autouse=True)
def _player_installed() -> None:
    if not PLAYER_JS.exists():
        pytest.fail(
            "rrweb-player is not installed: run `npm ci` in services/replay/web "
            "(`make test` does it)"
        )


@pytest.fixture
def context(browser: Browser, server: Any) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=server.url, viewport={"width": 1360, "height": 1000})
    yield ctx
    ctx.close()


def test_list_and_player(context: BrowserContext, seeded: tuple[Any, str]) -> None:
    project, sid = seeded
    page: Page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto("/replays")
    expect(page).to_have_url(re.compile(r"/replays/login\?next=%2Freplays$"))
    page.get_by_label("Secret key").fill(project.token)  # the public token is refused
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("[data-error]")).to_contain_text("public token")
    page.get_by_label("Secret key").fill(project.secret_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/replays$"))
    (cookie,) = [c for c in context.cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] is True
    assert cookie["path"] == "/replays"

    row = page.locator(f'tr[data-session="{sid}"]')
    expect(row).to_have_count(1)
    expect(row.locator('[data-field="duration"]')).to_have_text("10s")
    expect(row.locator('[data-field="clicks"]')).to_have_text("2")
    expect(row.locator('[data-field="first_url"]')).to_have_text("https://shop.example/")
    expect(row.locator('[data-field="errors"]')).to_have_text("1 error")
    page.screenshot(path=ARTIFACTS / "replay-list.png", full_page=True)

    # Filters narrow the list (and keep the row when it matches).
    page.get_by_label("URL contains").fill("nowhere.example")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-session]")).to_have_count(0)
    page.get_by_label("URL contains").fill("shop.example")
    page.get_by_label("With console errors").check()
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(f'tr[data-session="{sid}"]')).to_have_count(1)

    row.locator("a.rec-link").click()
    expect(page).to_have_url(re.compile(rf"/replays/{sid}$"))
    player = page.locator("#player")
    expect(player).to_have_attribute("data-state", "ready", timeout=20_000)
    total_ms = int(player.get_attribute("data-total-time") or "0")
    assert total_ms > 0
    assert total_ms == 10_000
    expect(page.locator("[data-total-label]")).to_have_text("0:10")
    frame = page.frame_locator("#player iframe")
    expect(frame.locator("h1")).to_have_text("Welcome to the shop")
    expect(frame.locator("button")).to_have_text("Buy")

    # The timeline: every analytics event of the session, in order; a click jumps there.
    items = page.locator("[data-timeline] li")
    expect(items).to_have_count(3)
    assert items.evaluate_all("els => els.map(e => e.dataset.event)") == [
        "$pageview",
        "$autocapture",
        "added_to_cart",
    ]
    page.locator('[data-timeline] li[data-event="added_to_cart"] button').click()
    expect(player).to_have_attribute("data-current-time", "6000")
    expect(page.locator('[data-timeline] li[data-event="added_to_cart"]')).to_have_class(
        re.compile("current")
    )
    # Speed and skip-inactivity controls drive the player.
    page.locator('[data-control="speed"]').select_option("4")
    page.locator('[data-control="skip"]').uncheck()
    page.screenshot(path=ARTIFACTS / "replay-player.png", full_page=True)
    assert not [p for p in problems if "Content Security Policy" in p or "Uncaught" in p], problems

    # Narrow screens: nothing runs off the side.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/replays")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=ARTIFACTS / "replay-list-mobile.png", full_page=True)

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("[data-signed-out]")).to_be_visible()
    page.goto(f"/replays/{sid}")
    expect(page).to_have_url(re.compile(r"/replays/login\?next="))


def test_pages_need_a_session(server: Any, seeded: tuple[Any, str]) -> None:
    project, sid = seeded
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for path in ("/replays", f"/replays/{sid}"):
            r = http.get(path)
            assert r.status_code == 303
            assert r.headers["location"].startswith("/replays/login?next=")
        for path in (f"/replays/data/{sid}/snapshots", f"/replays/data/{sid}/events"):
            r = http.get(path, headers={"Authorization": f"Bearer {project.secret_key}"})
            assert r.status_code == 401
        # The login never sends anyone off-site.
        r = http.post(
            "/replays/login",
            data={"secret_key": project.secret_key, "next": "https://evil.example/"},
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/replays"
        # The JSON API takes the page's cookie as well as the secret key.
        cookie = r.cookies[COOKIE]
        http.cookies.clear()
        r = http.get(f"/api/replays/{sid}", headers={"Cookie": f"{COOKIE}={cookie}"})
        assert r.status_code == 200
        assert r.json()["session_id"] == sid
        r = http.get(f"/replays/{uuid.uuid4()}", headers={"Cookie": f"{COOKIE}={cookie}"})
        assert r.status_code == 404
        assert "No recording" in r.text
        r = http.get("/replays/static/nothing.js")
        assert r.status_code == 404


def test_the_sdk_bundle(stack: Any, tmp_path: Path) -> None:
    bundle = tmp_path / "devflow.js"
    bundle.write_text("window.devflow = {};\n")
    server = stack.serve(name="replay-sdk", services=("replay",), DEVFLOW_REPLAY_SDK_JS=str(bundle))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.get("/static/devflow.js")
        assert r.status_code == 200
        assert r.text == "window.devflow = {};\n"
        assert r.headers["content-type"].startswith("application/javascript")
        assert "max-age=" in r.headers["cache-control"]
        etag = r.headers["etag"]
        again = http.get("/static/devflow.js", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        bundle.write_text("window.devflow = {v: 2};\n")  # a rebuild is served at once
        assert http.get("/static/devflow.js", headers={"If-None-Match": etag}).status_code == 200
        bundle.unlink()
        r = http.get("/static/devflow.js")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "npm ci && npm run build" in r.json()["detail"]
        assert r.json()["errors"][0]["field"] == "path"
    server.process.kill()
