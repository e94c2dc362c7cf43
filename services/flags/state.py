"""What the flags service shares between its lifespan and its handlers:
``ctx.state_of(FlagsState)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.core.db import Pool
    from services.flags.definitions import Hub
    from services.flags.subjects import SubjectCache


@dataclass(frozen=True)
class FlagsState:
    """Built by the service's lifespan, one per process."""

    # Compiled definitions per project, and the listeners of the definitions stream.
    hub: Hub
    # Evaluation reads in autocommit: one round trip per request, no COMMIT.
    read_pool: Pool
    # Stored properties of persons and groups, kept fresh by NATS notifications.
    subjects: SubjectCache
