"""``$feature_flag_called`` events: what experiments count as exposures.

One per (distinct id, flag, value) for as long as the pair stays in a bounded LRU, with the
properties PostHog's SDKs send, so PostHog-shaped analyses read them unchanged.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from devflow_sdk._flagsync.details import FlagDetails

log = logging.getLogger("devflow_sdk.flags")

EVENT: Final = "$feature_flag_called"
MAX_REMEMBERED: Final = 50_000

Capture = Callable[[str, str, dict[str, Any]], None]


class Exposures:
    def __init__(self, capture: Capture, max_remembered: int = MAX_REMEMBERED) -> None:
        self._capture = capture
        self._max = max_remembered
        self._seen: OrderedDict[tuple[str, str, bool | str], None] = OrderedDict()
        self._lock = threading.Lock()

    def after_fork(self) -> None:
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def record(
        self, details: FlagDetails, distinct_id: str, groups: Mapping[str, Any] | None
    ) -> None:
        """Send the exposure unless this subject already saw this value of this flag."""
        if details.value is None:
            return
        seen_key = (distinct_id, details.key, details.value)
        with self._lock:
            if seen_key in self._seen:
                self._seen.move_to_end(seen_key)
                return
            self._seen[seen_key] = None
            if len(self._seen) > self._max:
                self._seen.popitem(last=False)
        try:
            self._capture(EVENT, distinct_id, properties(details, groups))
        except Exception as exc:  # flag reads never raise; a later read tries again
            log.debug("devflow: could not queue %s: %r", EVENT, exc)
            with self._lock:
                self._seen.pop(seen_key, None)


def properties(details: FlagDetails, groups: Mapping[str, Any] | None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "$feature_flag": details.key,
        "$feature_flag_response": details.value,
        f"$feature/{details.key}": details.value,
        "locally_evaluated": details.locally_evaluated,
    }
    if details.payload is not None:
        props["$feature_flag_payload"] = details.payload
    if details.description:
        props["$feature_flag_reason"] = details.description
    if details.flag_id is not None:
        props["$feature_flag_id"] = details.flag_id
    if details.version is not None:
        props["$feature_flag_version"] = details.version
    if details.request_id:
        props["$feature_flag_request_id"] = details.request_id
    if groups:
        props["$groups"] = dict(groups)
    return props
