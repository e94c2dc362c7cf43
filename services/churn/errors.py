"""Errors of the churn service; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.errors import ConfigError


class InvalidTable(ConfigError):
    """A table given to ``devflow churn evaluate`` that cannot be modelled (one line, exit 2)."""
