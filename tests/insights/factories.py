"""Generated event sets for the insights oracle: people on one or two devices, some identified
(``$identify`` merging their anonymous ids into one person), events around DST change days, and
late events sent after the merges they precede."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

EVENTS = ("pageview", "signup", "purchase", "click")
# Days whose local clocks change in the zones the tests use (2026).
DST_DAYS = (
    datetime(2026, 10, 4, 16, tzinfo=UTC),  # Australia/Sydney springs forward
    datetime(2026, 10, 25, 1, tzinfo=UTC),  # Europe/Berlin falls back
    datetime(2026, 11, 1, 6, tzinfo=UTC),  # America/New_York falls back
)
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney")
_MISSING = object()


@dataclass
class Event:
    """One generated event and who did it (``human``: the person it must count for)."""

    uuid: str
    event: str
    distinct_id: str
    timestamp: datetime
    properties: dict[str, Any]
    human: str

    def capture(self) -> dict[str, Any]:
        """The event as a ``/batch`` item."""
        return {
            "uuid": self.uuid,
            "event": self.event,
            "distinct_id": self.distinct_id,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "properties": self.properties,
        }


@dataclass
class Dataset:
    """The events in time order, sent in two parts (so that merges happen between persons the
    writer already stored), and the late events sent after."""

    events: list[Event] = field(default_factory=list)
    late: list[Event] = field(default_factory=list)

    @property
    def all(self) -> list[Event]:
        return self.events + self.late


def _pick(rng: random.Random, choices: tuple[Any, ...]) -> Any:
    return choices[rng.randrange(len(choices))]


def _properties(rng: random.Random) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for key, choices in (
        ("plan", ("free", "Free", "PRO", "pro", "team", None, _MISSING)),
        ("amount", (0, 3, 7, 12.5, 40, 99, "12.5", "n/a", True, None, _MISSING)),
        ("browser", ("Chrome", "Firefox", "Safari", "chrome", _MISSING)),
        ("beta", (True, False, "true", "FALSE", 1, _MISSING)),
    ):
        value = _pick(rng, choices)
        if value is not _MISSING:
            props[key] = value
    return props


def _time(rng: random.Random, now: datetime) -> datetime:
    if rng.random() < 0.4:
        # Within a day of a DST change.
        base = _pick(rng, DST_DAYS) + timedelta(hours=rng.uniform(-20, 20))
    else:
        base = now - timedelta(days=rng.uniform(0.05, 75))
    return base.replace(microsecond=rng.randrange(1000) * 1000)


def generate(seed: int, now: datetime, humans: int = 70) -> Dataset:
    """A dataset of ``humans`` people with distinct ids unique to ``seed``."""
    rng = random.Random(seed)
    data = Dataset()
    for h in range(humans):
        user = f"user-{seed}-{h}"
        identified = rng.random() < 0.6
        for device in range(rng.choice((1, 2))):
            anon = f"anon-{seed}-{h}-{device}"
            # Devices of someone never identified stay different persons.
            who = str(h) if identified else f"{h}-{device}"
            times = sorted(_time(rng, now) for _ in range(rng.randrange(1, 12)))
            cut = rng.randrange(len(times)) if identified else len(times)
            for i, t in enumerate(times):
                if identified and i == cut:
                    data.events.append(
                        Event(
                            str(uuid.uuid4()),
                            "$identify",
                            user,
                            t,
                            {"$anon_distinct_id": anon},
                            who,
                        )
                    )
                    t += timedelta(milliseconds=1)
                distinct = user if identified and i >= cut else anon
                event = Event(
                    str(uuid.uuid4()), _pick(rng, EVENTS), distinct, t, _properties(rng), who
                )
                # Some anonymous events arrive after the merge they happened before.
                late = distinct == anon and identified and rng.random() < 0.3
                (data.late if late else data.events).append(event)
    data.events.sort(key=lambda e: e.timestamp)
    return data
