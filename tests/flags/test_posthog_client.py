"""The ``posthog`` package from PyPI, unchanged, against our ``/flags``, ``/flags/definitions``
and ``local_evaluation``; and the definitions endpoint's ETag and auth contract."""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import posthog

from tests.flags.factories import (
    admin,
    create,
    fields,
    multivariate_flag,
    property_flag,
    rollout_flag,
)
from tests.support import Server


def _client(server: Server, project: Any, *, local: bool) -> posthog.Posthog:
    return posthog.Posthog(
        project.token,
        host=server.url,
        secret_key=project.secret_key if local else None,
        poll_interval=300,
        flush_interval=0.1,
        sync_mode=False,
        feature_flags_request_timeout_seconds=10,
    )


def _flag_set(http: httpx.Client, project: Any) -> None:
    half = create(http, project, rollout_flag("half", 50))
    create(http, project, property_flag("gmail", "email", "gmail.com", operator="icontains"))
    create(http, project, multivariate_flag("mv", {"a": 34, "b": 33, "c": 33}, {"b": '{"n": 2}'}))
    # A dependency on the first flag, stored by id and served to SDKs by key with its chain.
    dependency = {
        "key": str(half["id"]),
        "type": "flag",
        "value": True,
        "operator": "flag_evaluates_to",
    }
    create(
        http,
        project,
        {
            "key": "needs-half",
            "filters": {"groups": [{"properties": [dependency], "rollout_percentage": 100}]},
        },
    )


def test_remote_evaluation_with_posthog_client(
    server: Server, http: httpx.Client, project: Any
) -> None:
    _flag_set(http, project)
    ph = _client(server, project, local=False)
    try:
        users = [f"user-{i}" for i in range(40)]
        for user in users:
            ours = http.post(
                "/flags/?v=2", json={"api_key": project.token, "distinct_id": user}
            ).json()["flags"]
            flags = ph.evaluate_flags(user, person_properties={"email": f"{user}@GMAIL.com"})
            assert flags.get_flag("mv") == ours["mv"]["variant"]
            assert flags.is_enabled("half") == ours["half"]["enabled"]
            assert flags.is_enabled("gmail") is True
            assert flags.is_enabled("needs-half") == ours["half"]["enabled"]
            if flags.get_flag("mv") == "b":
                assert flags.get_flag_payload("mv") == {"n": 2}
        # The older per-flag calls, which many applications still use, work too.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert ph.get_feature_flag(
                "mv", "user-1", send_feature_flag_events=False
            ) == ph.evaluate_flags("user-1").get_flag("mv")
            assert set(ph.get_all_flags("user-1") or {}) == {"half", "gmail", "mv", "needs-half"}
    finally:
        ph.shutdown()


def test_local_evaluation_with_posthog_client(
    server: Server, http: httpx.Client, project: Any
) -> None:
    _flag_set(http, project)
    ph = _client(server, project, local=True)
    try:
        ph.load_feature_flags()
        for i in range(200):
            user = f"local-{i}"
            props = {"email": f"{user}@example.com"}
            remote = http.post(
                "/flags/?v=2",
                json={"api_key": project.token, "distinct_id": user, "person_properties": props},
            ).json()["flags"]
            local = ph.evaluate_flags(user, person_properties=props, only_evaluate_locally=True)
            assert {k: local.get_flag(k) for k in remote} == {
                k: (v["variant"] or v["enabled"]) for k, v in remote.items()
            }
    finally:
        ph.shutdown()


def test_definitions_shape_etag_and_auth(http: httpx.Client, project: Any, stack: Any) -> None:
    made = create(http, project, rollout_flag("d1", 30))
    for path in ("/flags/definitions", "/api/feature_flag/local_evaluation/"):
        r = http.get(
            path, params={"token": project.token, "send_cohorts": ""}, headers=admin(project)
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) >= {"flags", "group_type_mapping", "cohorts"}
        (flag,) = body["flags"]
        assert flag["id"] == made["id"]
        assert flag["key"] == "d1"
        assert flag["active"] is True
        assert flag["filters"] == made["filters"]
        etag = r.headers["etag"]
        same = http.get(
            path, params={"token": project.token}, headers=admin(project, **{"If-None-Match": etag})
        )
        assert same.status_code == 304
        assert same.content == b""
    http.patch("/api/feature_flags/d1", json={"rollout_percentage": 60}, headers=admin(project))
    changed = http.get(
        "/flags/definitions",
        params={"token": project.token},
        headers=admin(project, **{"If-None-Match": etag}),
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    # Definitions need the secret key, and the token must be the same project's.
    assert http.get("/flags/definitions", params={"token": project.token}).status_code == 401
    no = http.get(
        "/flags/definitions",
        params={"token": project.token},
        headers={"Authorization": f"Bearer {project.token}"},
    )
    assert no.status_code == 401
    assert fields(no) == ["Authorization"]
    other = stack.project("other")
    mixed = http.get("/flags/definitions", params={"token": other.token}, headers=admin(project))
    assert mixed.status_code == 401
    assert fields(mixed) == ["token"]
