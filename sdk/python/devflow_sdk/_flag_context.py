"""The keyword arguments every flag read takes, declared once as ``TypedDict`` s.

The reads of ``FlagsManager``, ``Client`` and ``AsyncClient`` accept them as
``**context: Unpack[FlagReadContext]`` (``get_all_flags``: ``Unpack[FlagContext]``), so type
checkers and IDEs still see each keyword and its type, and a new keyword is added in one place.
``FlagsManager.get_flag_details`` and ``get_all_flags`` spell them out as real parameters: they
are where the defaults live and where a misspelt keyword raises ``TypeError`` at run time.
"""

from __future__ import annotations

from collections.abc import Mapping  # noqa: TC003 - typing.get_type_hints() resolves it
from typing import Any, TypedDict

__all__ = ["FlagContext", "FlagReadContext"]


class FlagContext(TypedDict, total=False):
    """Who a flag is evaluated for, beyond the distinct id; every key is optional."""

    person_properties: Mapping[str, Any] | None
    """The person's properties (``distinct_id`` is always one)."""
    groups: Mapping[str, Any] | None
    """Group type -> group key, e.g. ``{"company": "acme"}``."""
    group_properties: Mapping[str, Mapping[str, Any]] | None
    """Group type -> that group's properties."""


class FlagReadContext(FlagContext, total=False):
    """``FlagContext`` plus ``send_exposure``: whether the read sends ``$feature_flag_called``
    (default ``True``; ``False`` for ``get_payload``)."""

    send_exposure: bool
