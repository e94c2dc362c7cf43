"""JSON Schema export of the wire contracts for non-Python clients (``devflow schemas export``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from schemas import api, events, experiments, flags, persons, replay, traits

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
    "experiments.ExperimentOut": experiments.ExperimentOut,
    "experiments.ExperimentList": experiments.ExperimentList,
    "experiments.ResultsOut": experiments.ResultsOut,
    "replay.SnapshotBatch": replay.SnapshotBatch,
    "replay.ReplayOut": replay.ReplayOut,
    "replay.ReplayList": replay.ReplayList,
    "replay.ReplaySettings": replay.ReplaySettings,
    "replay.SessionEvents": replay.SessionEvents,
}

DEFAULT_DIR = Path(__file__).resolve().parent / "json"


def render() -> dict[str, bytes]:
    """Return ``{file name: JSON Schema bytes}`` for every contract, deterministic and sorted."""
    out: dict[str, bytes] = {}
    for name, contract in sorted(CONTRACTS.items()):
        schema = msgspec.json.schema(contract)
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
