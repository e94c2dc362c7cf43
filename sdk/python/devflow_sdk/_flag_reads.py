"""``FlagReads``: ``Client``'s blocking feature-flag reads, delegated to its ``FlagsManager``.

(``AsyncClient`` has the same reads as coroutines; the manager itself is ``client.flags``.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from devflow_sdk._flags_manager import FlagDetails, FlagsManager

__all__ = ["FlagReads"]


class FlagReads:
    """The flag reads of ``Client``; none of them raises (see ``docs/sdk-python-flags.md``)."""

    _flags: FlagsManager

    def get_flag_details(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Mapping[str, Any]] | None = None,
        send_exposure: bool = True,
    ) -> FlagDetails:
        """The flag for ``distinct_id`` with how it was decided (value, variant, payload, reason,
        version...); never raises: ``error`` says why there is no value."""
        return self._flags.get_flag_details(
            key,
            distinct_id,
            person_properties=person_properties,
            groups=groups,
            group_properties=group_properties,
            send_exposure=send_exposure,
        )

    def get_flag(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Mapping[str, Any]] | None = None,
        send_exposure: bool = True,
    ) -> bool | str | None:
        """The flag's value for ``distinct_id``: a variant, ``True``/``False``, or ``None``."""
        return self._flags.get_flag(
            key,
            distinct_id,
            person_properties=person_properties,
            groups=groups,
            group_properties=group_properties,
            send_exposure=send_exposure,
        )

    def is_enabled(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Mapping[str, Any]] | None = None,
        send_exposure: bool = True,
    ) -> bool:
        """Whether the flag is on for ``distinct_id`` (``False`` without an answer)."""
        return self._flags.is_enabled(
            key,
            distinct_id,
            person_properties=person_properties,
            groups=groups,
            group_properties=group_properties,
            send_exposure=send_exposure,
        )

    def get_payload(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Mapping[str, Any]] | None = None,
        send_exposure: bool = False,
    ) -> Any:
        """The payload of the variant ``distinct_id`` gets, decoded from JSON."""
        return self._flags.get_payload(
            key,
            distinct_id,
            person_properties=person_properties,
            groups=groups,
            group_properties=group_properties,
            send_exposure=send_exposure,
        )

    def get_all_flags(
        self,
        distinct_id: str,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, bool | str]:
        """Every flag with an answer for ``distinct_id`` (sends no exposures)."""
        return self._flags.get_all_flags(
            distinct_id,
            person_properties=person_properties,
            groups=groups,
            group_properties=group_properties,
        )
