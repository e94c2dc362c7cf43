"""Keeping flag definitions in the process and current: the definitions snapshot and its store,
the fetch and stream protocol, the sync thread, the disk cache, bootstrap files, remote
evaluation and exposure events. ``devflow_sdk._flags_manager`` puts them together."""

from __future__ import annotations

from devflow_sdk._flagsync.details import (
    EVALUATION_ERROR,
    FLAG_NOT_FOUND,
    NOT_READY,
    UNAVAILABLE,
    FlagDetails,
    decode_payload,
)
from devflow_sdk._flagsync.store import FlagsChange

__all__ = [
    "EVALUATION_ERROR",
    "FLAG_NOT_FOUND",
    "NOT_READY",
    "UNAVAILABLE",
    "FlagDetails",
    "FlagsChange",
    "decode_payload",
]
