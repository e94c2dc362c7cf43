"""DevFlow Analytics client SDK.

``Client`` (and ``AsyncClient``) capture events over PostHog's wire protocol and evaluate
feature flags through a ``FlagsManager`` (``client.flags``; also usable alone), which answers
with ``FlagDetails`` and reports definition changes as ``FlagsChange``. Every flag read takes
the keywords of ``FlagReadContext`` (``get_all_flags``: ``FlagContext``).
``devflow_sdk.flags`` is the flag evaluation engine, which the flags service imports as-is so
that local and remote evaluation agree. Installable alone: ``pip install ./sdk/python``.

The clients are imported on first use, so that ``import devflow_sdk.flags`` (what the server
does) loads neither httpx nor the capture machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from devflow_sdk._version import __version__
from devflow_sdk.errors import APIError, ConfigError, DevflowError, TransportError

if TYPE_CHECKING:
    from devflow_sdk._async_client import AsyncClient
    from devflow_sdk._client import DEFAULT_HOST, Client
    from devflow_sdk._flag_context import FlagContext, FlagReadContext
    from devflow_sdk._flag_options import FlagOptions
    from devflow_sdk._flags_manager import FlagDetails, FlagsChange, FlagsManager
    from devflow_sdk._stats import Stats

__all__ = [
    "DEFAULT_HOST",
    "APIError",
    "AsyncClient",
    "Client",
    "ConfigError",
    "DevflowError",
    "FlagContext",
    "FlagDetails",
    "FlagOptions",
    "FlagReadContext",
    "FlagsChange",
    "FlagsManager",
    "Stats",
    "TransportError",
    "__version__",
]

_LAZY = {
    "AsyncClient": "devflow_sdk._async_client",
    "Client": "devflow_sdk._client",
    "DEFAULT_HOST": "devflow_sdk._client",
    "FlagContext": "devflow_sdk._flag_context",
    "FlagDetails": "devflow_sdk._flags_manager",
    "FlagOptions": "devflow_sdk._flag_options",
    "FlagReadContext": "devflow_sdk._flag_context",
    "FlagsChange": "devflow_sdk._flags_manager",
    "FlagsManager": "devflow_sdk._flags_manager",
    "Stats": "devflow_sdk._stats",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'devflow_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
