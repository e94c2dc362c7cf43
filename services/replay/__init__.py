"""Replay: session recordings (PostHog's ``/s``), stored as compressed chunks, and the player."""

from __future__ import annotations

from schemas import replay
from services.core.bus import StreamSpec
from services.core.service import Service
from services.replay.api import router
from services.replay.config import ReplayConfig
from services.replay.consumers import consumers
from services.replay.tasks import periodic

SERVICE = Service(
    name="replay",
    router=router,
    streams=[StreamSpec(replay.STREAM, replay.SUBJECTS)],
    consumers=consumers,
    periodic=periodic,
    settings=ReplayConfig,
)
