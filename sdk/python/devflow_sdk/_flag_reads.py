"""``FlagReads``: ``Client``'s blocking feature-flag reads, delegated to its ``FlagsManager``.

(``AsyncClient`` has the same reads as coroutines; the manager itself is ``client.flags``.)
Every read takes the keywords of ``FlagReadContext`` (``get_all_flags``: ``FlagContext``):
``person_properties``, ``groups``, ``group_properties`` and ``send_exposure``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Unpack

    from devflow_sdk._flag_context import FlagContext, FlagReadContext
    from devflow_sdk._flags_manager import FlagDetails, FlagsManager

__all__ = ["FlagReads"]


class FlagReads:
    """The flag reads of ``Client``; none of them raises (see ``docs/sdk-python-flags.md``)."""

    _flags: FlagsManager

    def get_flag_details(
        self, key: str, distinct_id: str, **context: Unpack[FlagReadContext]
    ) -> FlagDetails:
        """The flag for ``distinct_id`` with how it was decided (value, variant, payload, reason,
        version...); never raises: ``error`` says why there is no value."""
        return self._flags.get_flag_details(key, distinct_id, **context)

    def get_flag(
        self, key: str, distinct_id: str, **context: Unpack[FlagReadContext]
    ) -> bool | str | None:
        """The flag's value for ``distinct_id``: a variant, ``True``/``False``, or ``None``."""
        return self._flags.get_flag(key, distinct_id, **context)

    def is_enabled(self, key: str, distinct_id: str, **context: Unpack[FlagReadContext]) -> bool:
        """Whether the flag is on for ``distinct_id`` (``False`` without an answer)."""
        return self._flags.is_enabled(key, distinct_id, **context)

    def get_payload(self, key: str, distinct_id: str, **context: Unpack[FlagReadContext]) -> Any:
        """The payload of the variant ``distinct_id`` gets, decoded from JSON (sends no exposure
        unless ``send_exposure=True``)."""
        return self._flags.get_payload(key, distinct_id, **context)

    def get_all_flags(
        self, distinct_id: str, **context: Unpack[FlagContext]
    ) -> dict[str, bool | str]:
        """Every flag with an answer for ``distinct_id`` (sends no exposures)."""
        return self._flags.get_all_flags(distinct_id, **context)
