from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support import ARTIFACTS, Server, Servers, Stack

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    root = Path(tempfile.mkdtemp(prefix="devflow-tests-"))
    servers = Servers(root)
    yield servers
    servers.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(servers: Servers) -> Iterator[Stack]:
    """The suite's shared database and NATS, with one platform process serving every service."""
    stack = servers.stack(servers.root / "shared")
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def server(stack: Stack) -> Server:
    return stack.serve(
        name="shared-api", services=("ingest", "flags", "experiments", "replay", "insights")
    )


@pytest.fixture
def project(stack: Stack) -> Any:
    """A fresh project per test: its token and secret key isolate the test's data."""
    return stack.project()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def isolated_stack(servers: Servers, tmp_path: Path) -> Iterator[Stack]:
    """A database and a NATS of this test's own, for tests that kill and restart things."""
    stack = servers.stack(tmp_path, own_nats=True)
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright, for a module of browser tests.

    Per module, not per session: while Playwright's sync API runs, the main thread has an event
    loop, and the other tests' ``asyncio.run`` would refuse to start."""
    from playwright.sync_api import sync_playwright  # only the browser tests need it

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail(
            "Debian's chromium is needed: `make test` installs it (apt-get install chromium)"
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()
