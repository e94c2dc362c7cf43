"""The OpenFeature provider through ``openfeature.api``: every reason and error code, context
mapping, configuration-changed and ready events, and ``track``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from devflow_sdk.openfeature import DevFlowProvider
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode, ProviderNotReadyError
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus
from openfeature.track import TrackingEventDetails

from services.cli.embedded import free_port
from tests.flags.factories import admin, create, multivariate_flag, property_flag, rollout_flag
from tests.sdk.flags_client.proxy import Proxy
from tests.sdk.flags_client.support import Captured, ManagerFactory
from tests.support import Server, wait_for


@pytest.fixture
def openfeature() -> Iterator[Any]:
    yield api
    api.clear_providers()


def _ctx(user: str = "user-1", **attributes: Any) -> EvaluationContext:
    return EvaluationContext(targeting_key=user, attributes=attributes)


def _flag_set(http: httpx.Client, project: Any) -> None:
    http.put("/api/group_types/0", json={"group_type": "company"}, headers=admin(project))
    create(http, project, property_flag("pro-only", "plan", "pro"))
    create(http, project, rollout_flag("half", 50))
    create(http, project, rollout_flag("dark", 100, active=False))
    create(
        http, project, multivariate_flag("color", {"red": 50, "blue": 50}, {"red": '{"hex": 1}'})
    )
    numbers = {"groups": [{"properties": [], "rollout_percentage": 100}]}
    create(http, project, {"key": "limit", "filters": {**numbers, "payloads": {"true": "42"}}})
    create(http, project, {"key": "ratio", "filters": {**numbers, "payloads": {"true": "0.25"}}})
    seats = {
        "key": "seats",
        "value": 100,
        "operator": "gte",
        "type": "group",
        "group_type_index": 0,
    }
    create(
        http,
        project,
        {
            "key": "big-co",
            "filters": {
                "aggregation_group_type_index": 0,
                "groups": [{"properties": [seats], "rollout_percentage": 100}],
            },
        },
    )


def test_reasons_values_and_errors(
    server: Server,
    http: httpx.Client,
    project: Any,
    make_manager: ManagerFactory,
    openfeature: Any,
) -> None:
    _flag_set(http, project)
    captured = Captured()
    manager = make_manager(server.url, project, capture=captured, flags_ready_timeout=10)
    openfeature.set_provider_and_wait(DevFlowProvider(manager))
    client = openfeature.get_client()
    assert client.get_provider_status() == ProviderStatus.READY
    assert openfeature.get_provider_metadata().name == "DevFlow"

    # TARGETING_MATCH: a condition on a property matched, 100 % rollout.
    d = client.get_boolean_details("pro-only", False, _ctx(plan="pro"))
    assert (d.value, d.reason, d.variant, d.error_code) == (
        True,
        Reason.TARGETING_MATCH,
        "true",
        None,
    )
    assert d.flag_metadata["reason_code"] == "condition_match"
    assert d.flag_metadata["locally_evaluated"] is True
    assert d.flag_metadata["version"] == 1
    # DEFAULT: no condition matched, so the caller's default.
    d = client.get_boolean_details("pro-only", True, _ctx(plan="free"))
    assert (d.value, d.reason) == (True, Reason.DEFAULT)
    # DISABLED: the flag is inactive.
    d = client.get_boolean_details("dark", True, _ctx())
    assert (d.value, d.reason) == (True, Reason.DISABLED)
    # SPLIT: a 50 % rollout decided, both ways; the "off" side is the flag's answer.
    outcomes = set()
    for i in range(40):
        d = client.get_boolean_details("half", True, _ctx(f"u{i}"))
        outcomes.add((d.value, d.reason, d.variant))
    assert outcomes == {(True, Reason.SPLIT, "true"), (False, Reason.SPLIT, "false")}
    # Strings read the variant (a percentage split); objects read its payload.
    d = client.get_string_details("color", "none", _ctx("u1"))
    assert d.reason == Reason.SPLIT
    assert d.value in {"red", "blue"}
    assert d.variant == d.value
    red = next(u for u in (f"u{i}" for i in range(50)) if manager.get_flag("color", u) == "red")
    assert client.get_object_details("color", {}, _ctx(red)).value == {"hex": 1}
    blue = next(u for u in (f"u{i}" for i in range(50)) if manager.get_flag("color", u) == "blue")
    d = client.get_object_details("color", {"d": 1}, _ctx(blue))  # on, but no payload
    assert (d.value, d.reason, d.variant) == ({"d": 1}, Reason.DEFAULT, "blue")
    # Numbers from payloads.
    assert client.get_integer_details("limit", 0, _ctx()).value == 42
    assert client.get_float_details("limit", 0.0, _ctx()).value == 42.0
    assert client.get_float_details("ratio", 0.0, _ctx()).value == 0.25
    # The groups attribute maps to groups; the rest are person properties.
    group_ctx = _ctx(groups={"company": "acme"}, group_properties={"company": {"seats": 500}})
    d = client.get_boolean_details("big-co", False, group_ctx)
    assert (d.value, d.reason) == (True, Reason.TARGETING_MATCH)
    d = client.get_boolean_details("big-co", False, _ctx())
    assert (d.value, d.reason) == (False, Reason.DEFAULT)
    assert d.flag_metadata["reason_code"] == "no_group_type"

    # Errors: the caller's default, reason ERROR and the code.
    def error(d: Any) -> tuple[Any, Any, Any]:
        return d.value, d.reason, d.error_code

    assert error(client.get_boolean_details("nope", True, _ctx())) == (
        True,
        Reason.ERROR,
        ErrorCode.FLAG_NOT_FOUND,
    )
    assert error(client.get_string_details("pro-only", "x", _ctx(plan="pro"))) == (
        "x",
        Reason.ERROR,
        ErrorCode.TYPE_MISMATCH,
    )
    assert error(client.get_integer_details("ratio", 7, _ctx())) == (
        7,
        Reason.ERROR,
        ErrorCode.TYPE_MISMATCH,
    )
    assert error(client.get_object_details("limit", {}, _ctx()))[2] == ErrorCode.TYPE_MISMATCH
    assert error(client.get_boolean_details("half", False, EvaluationContext())) == (
        False,
        Reason.ERROR,
        ErrorCode.TARGETING_KEY_MISSING,
    )
    d = client.get_boolean_details("big-co", False, _ctx(groups="acme"))
    assert d.error_code == ErrorCode.INVALID_CONTEXT

    # Evaluations were exposures, once per user, flag and value.
    exposures = [e for e in captured.events if e[0] == "$feature_flag_called"]
    keys = [(d, p["$feature_flag"], p["$feature_flag_response"]) for _, d, p in exposures]
    assert len(keys) == len(set(keys))
    assert ("user-1", "pro-only", True) in keys


def test_parse_error_from_a_bootstrap_file(
    project: Any, make_manager: ManagerFactory, openfeature: Any, tmp_path: Path
) -> None:
    # The server refuses payloads that aren't JSON; a hand-written bootstrap file may have them.
    flag = {
        "id": 1,
        "key": "broken",
        "active": True,
        "filters": {
            "groups": [{"properties": [], "rollout_percentage": 100}],
            "payloads": {"true": "{not json"},
        },
    }
    path = tmp_path / "flags.json"
    path.write_text(json.dumps({"flags": [flag]}))
    manager = make_manager("http://127.0.0.1:9", project, offline=True, bootstrap=path)
    openfeature.set_provider_and_wait(DevFlowProvider(manager))
    client = openfeature.get_client()
    d = client.get_object_details("broken", {"fallback": True}, _ctx())
    assert (d.value, d.reason, d.error_code) == (
        {"fallback": True},
        Reason.ERROR,
        ErrorCode.PARSE_ERROR,
    )
    assert client.get_boolean_value("broken", False, _ctx()) is True  # the flag itself is fine


def test_not_ready_then_ready_then_configuration_changed(
    server: Server,
    http: httpx.Client,
    project: Any,
    proxy_to: Any,
    make_manager: ManagerFactory,
    openfeature: Any,
) -> None:
    create(http, project, rollout_flag("gate", 100))
    proxy: Proxy = proxy_to(server.url)
    proxy.fail.update({"/flags": 503, "/api/feature_flags/stream": 503})  # /flags/definitions too
    manager = make_manager(proxy.url, project, poll_interval=0.3)
    events: dict[ProviderEvent, list[EventDetails]] = {e: [] for e in ProviderEvent}
    arrived = threading.Event()

    def handler(details: EventDetails, kind: ProviderEvent) -> None:
        events[kind].append(details)
        arrived.set()

    for kind in ProviderEvent:
        openfeature.add_handler(kind, lambda d, kind=kind: handler(d, kind))
    provider = DevFlowProvider(manager, ready_timeout=0.5)
    with pytest.raises(ProviderNotReadyError):
        openfeature.set_provider_and_wait(provider)
    client = openfeature.get_client()
    assert client.get_provider_status() == ProviderStatus.ERROR
    d = client.get_boolean_details("gate", False, _ctx())
    assert (d.value, d.reason, d.error_code) == (False, Reason.ERROR, ErrorCode.PROVIDER_NOT_READY)

    # The server comes back: the provider becomes ready by itself.
    proxy.fail.clear()
    wait_for(lambda: client.get_provider_status() == ProviderStatus.READY)
    wait_for(lambda: events[ProviderEvent.PROVIDER_READY])
    assert client.get_boolean_value("gate", False, _ctx()) is True

    # Each later change is a configuration-changed event naming the flag.
    wait_for(lambda: manager.streaming)
    http.patch("/api/feature_flags/gate", json={"active": False}, headers=admin(project))
    wait_for(lambda: events[ProviderEvent.PROVIDER_CONFIGURATION_CHANGED])
    changed = events[ProviderEvent.PROVIDER_CONFIGURATION_CHANGED][0]
    assert changed.flags_changed == ["gate"]
    assert changed.provider_name == "DevFlow"
    assert changed.metadata["etag"] == manager.definitions_etag
    assert client.get_boolean_details("gate", True, _ctx()).reason == Reason.DISABLED


def test_provider_not_ready_while_initialising(
    project: Any, make_manager: ManagerFactory, openfeature: Any
) -> None:
    manager = make_manager(f"http://127.0.0.1:{free_port()}", project, remote_fallback=False)
    openfeature.set_provider(DevFlowProvider(manager, ready_timeout=5))
    d = openfeature.get_client().get_boolean_details("gate", False, _ctx())
    assert (d.reason, d.error_code) == (Reason.ERROR, ErrorCode.PROVIDER_NOT_READY)


def test_track_goes_to_capture(
    server: Server, http: httpx.Client, project: Any, make_manager: ManagerFactory, openfeature: Any
) -> None:
    captured = Captured()
    manager = make_manager(server.url, project, capture=captured, secret=False)
    openfeature.set_provider_and_wait(DevFlowProvider(manager))
    client = openfeature.get_client()
    client.track(
        "checkout", _ctx("buyer"), TrackingEventDetails(value=9.5, attributes={"sku": "x"})
    )
    client.track("no-one", EvaluationContext())
    assert captured.events == [("checkout", "buyer", {"sku": "x", "value": 9.5})]


def test_the_provider_accepts_only_flag_sources() -> None:
    with pytest.raises(TypeError, match="DevFlow"):
        DevFlowProvider(object())
