"""Services the CLI can compose, imported only when asked for."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from services.core.errors import ConfigError

if TYPE_CHECKING:
    import msgspec

    from services.core.service import Service

AVAILABLE = {
    "ingest": "services.ingest",
    "flags": "services.flags",
    "experiments": "services.experiments",
    "replay": "services.replay",
    "billing": "services.billing",
    "insights": "services.insights",
    "churn": "services.churn",
}
# Each service's settings Struct (its ``Service.settings``), importable without the service, so
# every command checks every setting and knows every variable's name.
SETTINGS = {
    "ingest": ("services.ingest.config", "IngestConfig"),
    "flags": ("services.flags.config", "FlagsConfig"),
    "experiments": ("services.experiments.config", "ExperimentsConfig"),
    "replay": ("services.replay.config", "ReplayConfig"),
    "billing": ("services.billing.config", "BillingConfig"),
    "insights": ("services.insights.config", "InsightsConfig"),
    "churn": ("services.churn.config", "ChurnConfig"),
}
# Projections `devflow rebuild` can recompute from their logs: module with ``rebuild()``.
REBUILDABLE = {"flags": "services.flags.rebuild", "billing": "services.billing.rebuild"}


def load(names: list[str]) -> list[Service]:
    """The named services (each once); :class:`ConfigError` naming unknown ones."""
    unknown = [n for n in names if n not in AVAILABLE]
    if unknown:
        raise ConfigError(
            f"unknown service {', '.join(unknown)}; available: {', '.join(sorted(AVAILABLE))}"
        )
    return [importlib.import_module(AVAILABLE[n]).SERVICE for n in dict.fromkeys(names)]


def settings_classes() -> list[type[msgspec.Struct]]:
    """Every available service's settings Struct."""
    return [getattr(importlib.import_module(m), cls) for m, cls in SETTINGS.values()]
