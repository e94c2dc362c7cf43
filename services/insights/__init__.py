"""Insights: the query engine (PostHog's TrendsQuery and FunnelsQuery) over ingest's events."""

from __future__ import annotations

from services.core.service import Service
from services.insights.api import router
from services.insights.config import InsightsConfig

SERVICE = Service(name="insights", router=router, settings=InsightsConfig)
