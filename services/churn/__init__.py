"""Churn: point-in-time activity features over ingest's read contract and the churn model
pipeline (see docs/churn.md)."""

from __future__ import annotations

from services.churn.api import router
from services.churn.config import ChurnConfig
from services.core.service import Service

SERVICE = Service(name="churn", router=router, settings=ChurnConfig)
