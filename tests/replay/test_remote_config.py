"""posthog-js's remote configuration: it records to /s/ only when told to by this answer."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx


def test_config_for_a_project_token(http: httpx.Client, project: Any) -> None:
    r = http.get(f"/array/{project.token}/config")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    config = r.json()
    assert config["token"] == project.token
    assert config["sessionRecording"]["endpoint"] == "/s/"
    assert config["analytics"]["endpoint"] == "/i/v0/e/"
    assert config["hasFeatureFlags"] is True

    script = http.get(f"/array/{project.token}/config.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    found = re.search(
        r"window\._POSTHOG_REMOTE_CONFIG\[(\"[^\"]+\")\]=\{config:(\{.*\}),siteApps:\[\]\}",
        script.text,
    )
    assert found, script.text
    assert json.loads(found.group(1)) == project.token
    assert json.loads(found.group(2)) == config


def test_unknown_missing_and_oversized_tokens(http: httpx.Client, project: Any) -> None:
    for path in ("/array/phc_nobody/config", "/array/phc_nobody/config.js"):
        r = http.get(path)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == ["token"]
    assert http.get(f"/array/{'x' * 5000}/config").status_code == 404
    assert http.get("/array//config").status_code == 404
    # The secret key is not a token: it configures nothing.
    assert http.get(f"/array/{project.secret_key}/config").status_code == 404
