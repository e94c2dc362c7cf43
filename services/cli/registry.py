"""Services the CLI can compose, imported only when asked for."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from services.core.errors import ConfigError

if TYPE_CHECKING:
    from services.core.service import Service

AVAILABLE = {
    "ingest": "services.ingest",
    "flags": "services.flags",
    "experiments": "services.experiments",
    "replay": "services.replay",
    "billing": "services.billing",
}
# Projections `devflow rebuild` can recompute from their logs: module with ``rebuild()``.
REBUILDABLE = {"flags": "services.flags.rebuild", "billing": "services.billing.rebuild"}


def load(names: list[str]) -> list[Service]:
    unknown = [n for n in names if n not in AVAILABLE]
    if unknown:
        raise ConfigError(
            f"unknown service {', '.join(unknown)}; available: {', '.join(sorted(AVAILABLE))}"
        )
    return [importlib.import_module(AVAILABLE[n]).SERVICE for n in dict.fromkeys(names)]
