"""The distribution's version, in one place (read by ``__init__`` and the User-Agent)."""

from __future__ import annotations

__version__ = "0.1.0"
