"""JSON Schema export of the wire contracts for non-Python clients (``devflow schemas export``)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import msgspec

from schemas import api, billing, events, experiments, flags, insights, persons, replay, traits

CONTRACTS: dict[str, Any] = {
    "events.EventBatch": events.EventBatch,
    "persons.PersonsMessage": persons.PersonsMessage,
    "api.CaptureAccepted": api.CaptureAccepted,
    "api.Problem": api.Problem,
    "api.EventsPage": api.EventsPage,
    "api.PersonOut": api.PersonOut,
    "api.ProjectOut": api.ProjectOut,
    "api.ReadyOut": api.ReadyOut,
    "flags.FlagsMessage": flags.FlagsMessage,
    "flags.FlagIn": flags.FlagIn,
    "flags.FlagPatch": flags.FlagPatch,
    "flags.ScheduleIn": flags.ScheduleIn,
    "flags.CohortIn": flags.CohortIn,
    "flags.CohortPatch": flags.CohortPatch,
    "flags.GroupTypeIn": flags.GroupTypeIn,
    "flags.FlagOut": flags.FlagOut,
    "flags.FlagList": flags.FlagList,
    "flags.FlagHistory": flags.FlagHistory,
    "flags.ScheduleList": flags.ScheduleList,
    "flags.CohortList": flags.CohortList,
    "flags.GroupTypeList": flags.GroupTypeList,
    "flags.FlagsResponse": flags.FlagsResponse,
    "flags.DecideResponse": flags.DecideResponse,
    "flags.Definitions": flags.Definitions,
    "traits.TraitsMessage": traits.TraitsMessage,
    "experiments.ExperimentIn": experiments.ExperimentIn,
    "experiments.ExperimentPatch": experiments.ExperimentPatch,
    "experiments.ExperimentOut": experiments.ExperimentOut,
    "experiments.ExperimentList": experiments.ExperimentList,
    "experiments.ResultsOut": experiments.ResultsOut,
    "replay.SnapshotBatch": replay.SnapshotBatch,
    "replay.ReplayOut": replay.ReplayOut,
    "replay.ReplayList": replay.ReplayList,
    "replay.ReplaySettings": replay.ReplaySettings,
    "replay.SessionEvents": replay.SessionEvents,
    "billing.BillingSettingsIn": billing.BillingSettingsIn,
    "billing.BillingSettingsOut": billing.BillingSettingsOut,
    "billing.WebhookAck": billing.WebhookAck,
    "billing.StripeEventStored": billing.StripeEventStored,
    "billing.MeterIn": billing.MeterIn,
    "billing.MeterList": billing.MeterList,
    "billing.UsageReported": billing.UsageReported,
    "billing.CustomerList": billing.CustomerList,
    "billing.CustomerDetail": billing.CustomerDetail,
    "billing.StripeEventList": billing.StripeEventList,
    "insights.QueryRequest": insights.QueryRequest,
    "insights.QueryResponse": insights.QueryResponse,
    "insights.InsightsSettings": insights.InsightsSettings,
}

DEFAULT_DIR = Path(__file__).resolve().parent / "json"


def _clean_descriptions(node: Any) -> Any:
    """Dedent every ``description`` the way ``inspect.cleandoc`` does.

    msgspec copies a Struct's docstring into ``description``; releases differ on whether they
    strip its indentation (0.22 keeps it, 0.23 does not), so the files would change with the
    installed msgspec. Cleaning here makes them depend on our docstrings only.
    """
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value)
            if key == "description" and isinstance(value, str)
            else _clean_descriptions(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_clean_descriptions(item) for item in node]
    return node


def schema_of(contract: Any) -> dict[str, Any]:
    """The JSON Schema of one contract, as a dict, descriptions dedented."""
    cleaned: dict[str, Any] = _clean_descriptions(msgspec.json.schema(contract))
    return cleaned


def render() -> dict[str, bytes]:
    """Return ``{file name: JSON Schema bytes}`` for every contract, deterministic and sorted."""
    out: dict[str, bytes] = {}
    for name, contract in sorted(CONTRACTS.items()):
        schema = schema_of(contract)
        out[f"{name}.json"] = (
            msgspec.json.format(msgspec.json.encode(schema, order="sorted")) + b"\n"
        )
    return out


def export(directory: Path = DEFAULT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, body in render().items():
        path = directory / filename
        path.write_bytes(body)
        written.append(path)
    return written
