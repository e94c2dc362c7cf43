"""End to end in a real headless Chromium: a shop's pages record a session that our player plays.

A demo site on its own origin (a local HTTP server, so every request to the platform is
cross-origin, as on a customer's site) loads a browser SDK pointed at the platform. The visitor
identifies, clicks, types a card number into an input and goes to a second page. Then:

- the analytics events arrived;
- the replay's metadata is right: clicks, both URLs, a positive duration, the person;
- the typed text is masked in the stored recording (inputs are masked by default);
- the player page plays it: a positive total time, the recorded page rendered in its iframe.

Once with our SDK (``/static/devflow.js``), once with ``posthog-js`` from npm (installed in
``tests/e2e`` by ``make test``), which takes its recording settings from our remote config.
Screenshots go to ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import http.server
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support import ARTIFACTS, ROOT, Server, Stack, all_events, wait_for

POSTHOG_JS = ROOT / "tests/e2e/node_modules/posthog-js/dist/array.full.js"
CARD = "4111 2222 3333 4444"
DEVFLOW_HEAD = """<script src="{host}/static/devflow.js"></script>
<script>devflow.init("{token}", {{api_host: "{host}"}});</script>"""
# posthog-js drops the events of browsers under automation (navigator.webdriver) as bots unless
# told otherwise, as its own warning suggests for end-to-end tests.
POSTHOG_HEAD = """<script src="/posthog.js"></script>
<script>posthog.init("{token}", {{api_host: "{host}", person_profiles: "always",
  request_batching: false, opt_out_useragent_filter: true}});
window.sdk = posthog;</script>"""
FIRST = """<!doctype html>
<html><head><meta charset="utf-8"><title>Demo shop</title>{head}</head>
<body style="font-family: sans-serif; padding: 24px">
  <h1>Checkout demo</h1>
  <p class="lead">Three hats in your basket.</p>
  <label>Card number <input id="card" type="text" autocomplete="off"></label>
  <button id="buy" type="button">Buy now</button>
  <p><a id="next" href="/thanks.html">Continue</a></p>
</body></html>"""
SECOND = """<!doctype html>
<html><head><meta charset="utf-8"><title>Thanks</title>{head}</head>
<body style="font-family: sans-serif; padding: 24px">
  <h1>Thank you</h1>
  <button id="done" type="button">Back to the shop</button>
</body></html>"""


@dataclass
class Site:
    url: str
    root: Path


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A static site on 127.0.0.1 with a port of its own: another origin than the platform."""
    handler = partial(_QuietHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield Site(f"http://127.0.0.1:{httpd.server_address[1]}", tmp_path)
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _write_site(site: Site, head: str, server: Server, project: Any) -> None:
    filled = head.format(host=server.url, token=project.token)
    (site.root / "index.html").write_text(FIRST.format(head=filled))
    (site.root / "thanks.html").write_text(SECOND.format(head=filled))


def _visit(page: Page, site: Site, sdk: str, user: str) -> str:
    """Browse the demo shop as a visitor would; returns the recording's session id."""
    page.goto(f"{site.url}/index.html")
    page.wait_for_function(f"() => window.{sdk} && window.{sdk}.get_session_id()")
    page.evaluate(f"() => {sdk}.identify({user!r}, {{email: 'e2e@example.com'}})")
    page.click("#buy")
    page.type("#card", CARD, delay=15)
    page.click("h1")
    page.click("#buy")
    page.wait_for_timeout(2500)  # a recording flush (every 2 s) before leaving the page
    session_id = str(page.evaluate(f"() => {sdk}.get_session_id()"))
    page.click("#next")
    page.wait_for_url("**/thanks.html")
    page.wait_for_function(f"() => window.{sdk} && window.{sdk}.get_session_id()")
    page.click("#done")
    page.wait_for_timeout(2500)
    assert page.evaluate(f"() => {sdk}.get_session_id()") == session_id
    page.goto("about:blank")  # pagehide: what is left goes by sendBeacon
    return session_id


def _recording(server: Server, project: Any, session_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {project.secret_key}"}

    def complete() -> dict[str, Any] | None:
        r = httpx.get(f"{server.url}/api/replays/{session_id}", headers=headers, timeout=30)
        if r.status_code != 200:
            return None
        meta = dict(r.json())
        pages = {u.split("?")[0].rsplit("/", 1)[-1] for u in meta["urls"]}
        return meta if meta["click_count"] >= 4 and {"index.html", "thanks.html"} <= pages else None

    return dict(wait_for(complete, timeout_s=40))


def _check_recording(server: Server, project: Any, session_id: str, user: str) -> None:
    meta = _recording(server, project, session_id)
    assert meta["session_id"] == session_id
    assert meta["duration_ms"] > 2000  # two pages, each watched for a few seconds
    assert meta["urls"][0].endswith("/index.html")
    assert meta["first_url"].endswith("/index.html")
    assert meta["keypress_count"] >= 10  # one per character typed (19)
    assert meta["person_id"] is not None
    assert meta["distinct_id"] in {user} | {
        e["distinct_id"] for e in all_events(server.url, project.secret_key)
    }
    headers = {"Authorization": f"Bearer {project.secret_key}"}
    stored = httpx.get(
        f"{server.url}/api/replays/{session_id}/snapshots", headers=headers, timeout=30
    )
    assert stored.status_code == 200
    text = stored.text
    assert "Checkout demo" in text  # the page itself is recorded...
    for fragment in (CARD, "4111", "3333 4444"):
        assert fragment not in text  # ...but never what was typed
    inputs = [
        e["data"]
        for e in stored.json()["events"]
        if e["type"] == 3 and e["data"].get("source") == 5 and "text" in e["data"]
    ]
    assert inputs, "the typing was recorded as input events"
    assert all(set(d["text"]) <= {"*"} for d in inputs), inputs[-1]


def _check_events(server: Server, project: Any, user: str) -> None:
    def arrived() -> list[dict[str, Any]] | None:
        events = all_events(server.url, project.secret_key)
        names = [e["event"] for e in events]
        enough = names.count("$pageview") >= 2 and "$identify" in names
        return events if enough else None

    events = wait_for(arrived, timeout_s=30)
    names = [e["event"] for e in events]
    assert "$autocapture" in names
    assert any(e["distinct_id"] == user for e in events)


def _check_player(page: Page, server: Server, project: Any, session_id: str, shot: str) -> None:
    page.goto(f"{server.url}/replays/login")
    page.fill("input[name=secret_key]", project.secret_key)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.url}/replays")
    page.click(f"a[href='/replays/{session_id}']")
    player = page.locator("#player")
    expect(player).to_have_attribute("data-state", "ready", timeout=20_000)
    assert float(player.get_attribute("data-total-time") or 0) > 0
    frame = page.frame_locator("#player iframe").first
    expect(frame.locator("h1")).to_have_text("Checkout demo", timeout=10_000)
    expect(page.locator("[data-timeline] li[data-event='$pageview']").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)


def _run(
    browser: Browser, server: Server, stack: Stack, site: Site, *, name: str, sdk: str, head: str
) -> None:
    """Visit the shop with one SDK (its global is ``sdk``) and check everything it recorded."""
    project = stack.project(name)
    _write_site(site, head, server, project)
    user = f"e2e-{uuid.uuid4().hex[:8]}"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        session_id = _visit(context.new_page(), site, sdk, user)
        _check_events(server, project, user)
        _check_recording(server, project, session_id, user)
        _check_player(context.new_page(), server, project, session_id, f"{name}.png")
    finally:
        context.close()


def test_devflow_js_records_a_session_our_player_plays(
    browser: Browser, server: Server, stack: Stack, site: Site
) -> None:
    _run(browser, server, stack, site, name="e2e-devflow-js", sdk="devflow", head=DEVFLOW_HEAD)


def test_posthog_js_records_a_session_our_player_plays(
    browser: Browser, server: Server, stack: Stack, site: Site
) -> None:
    if not POSTHOG_JS.exists():
        pytest.fail("posthog-js is missing: `make test` runs `npm ci` in tests/e2e")
    shutil.copyfile(POSTHOG_JS, site.root / "posthog.js")
    _run(browser, server, stack, site, name="e2e-posthog-js", sdk="sdk", head=POSTHOG_HEAD)
