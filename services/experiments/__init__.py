"""Experiments service: experiments, metrics and their results (statistics in ``stats``)."""

from __future__ import annotations

from services.core.service import Service
from services.experiments.api import router
from services.experiments.config import ExperimentsConfig
from services.experiments.consumers import consumers
from services.experiments.tasks import periodic

SERVICE = Service(
    name="experiments",
    router=router,
    consumers=consumers,
    periodic=periodic,
    settings=ExperimentsConfig,
)
