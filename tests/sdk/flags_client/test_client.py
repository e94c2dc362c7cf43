"""Flags through the SDK's ``Client``: its capture pipeline carries the exposures into real
ingestion, and the OpenFeature provider takes the client itself."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from devflow_sdk import Client, FlagOptions
from devflow_sdk.openfeature import DevFlowProvider
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent
from openfeature.flag_evaluation import Reason

from tests.flags.factories import admin, create, multivariate_flag, property_flag
from tests.support import Server, all_events, wait_for


@pytest.fixture
def client(server: Server, project: Any) -> Iterator[Client]:
    c = Client(
        project.token,
        host=server.url,
        secret_key=project.secret_key,
        flush_interval=0.05,
        flag_options=FlagOptions(flags_ready_timeout=10),
    )
    yield c
    api.clear_providers()
    c.shutdown()


def test_client_flags_and_exposures_end_to_end(
    server: Server, http: httpx.Client, project: Any
) -> None:
    create(http, project, property_flag("pro", "plan", "pro"))
    create(http, project, multivariate_flag("mv", {"a": 50, "b": 50}, {"a": '{"n": 1}'}))
    with Client(
        project.token,
        host=server.url,
        secret_key=project.secret_key,
        flush_interval=0.05,
        flag_options=FlagOptions(flags_ready_timeout=10),
    ) as client:
        for _ in range(3):
            for user in ("ann", "bob"):
                assert client.get_flag("pro", user, person_properties={"plan": "pro"}) is True
                assert client.get_flag("mv", user) in {"a", "b"}
        user_a = next(u for u in (f"u{i}" for i in range(50)) if client.get_flag("mv", u) == "a")
        assert client.get_payload("mv", user_a) == {"n": 1}
        assert client.get_all_flags("ann", person_properties={"plan": "free"})["pro"] is False
        assert client.is_enabled("nope", "ann") is False
        assert client.flush(30)
    stored = wait_for(
        lambda: (
            [
                e
                for e in all_events(server.url, project.secret_key, event="$feature_flag_called")
                if e["distinct_id"] in {"ann", "bob"}
            ]
            or None
        )
    )
    counts = Counter(
        (
            e["distinct_id"],
            e["properties"]["$feature_flag"],
            e["properties"]["$feature_flag_response"],
        )
        for e in stored
    )
    assert len(counts) == 4
    assert set(counts.values()) == {1}


def test_openfeature_provider_over_the_client(
    client: Client, http: httpx.Client, project: Any
) -> None:
    create(http, project, property_flag("pro", "plan", "pro"))
    wait_for(lambda: client.get_flag("pro", "x", person_properties={"plan": "pro"}) is True)
    api.set_provider_and_wait(DevFlowProvider(client))
    of = api.get_client()
    ctx = EvaluationContext(targeting_key="ann", attributes={"plan": "pro"})
    details = of.get_boolean_details("pro", False, ctx)
    assert (details.value, details.reason) == (True, Reason.TARGETING_MATCH)
    changed: list[Any] = []
    of.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, changed.append)
    http.patch("/api/feature_flags/pro", json={"active": False}, headers=admin(project))
    wait_for(lambda: changed)
    assert changed[0].flags_changed == ["pro"]
    assert of.get_boolean_details("pro", False, ctx).reason == Reason.DISABLED
