"""Churn: point-in-time activity features over ingest's read contract and the churn model
pipeline (see docs/churn.md)."""

from __future__ import annotations

from services.churn.config import ChurnConfig
from services.core.service import Service

# No HTTP API or jobs yet: the scores and model endpoints, training and scoring come with the
# billing read contract (see docs/churn.md).
SERVICE = Service(name="churn", settings=ChurnConfig)
