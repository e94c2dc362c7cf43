"""Leaf-by-leaf differences between two flag definitions, for the history API."""

from __future__ import annotations

from typing import Any

from schemas.flags import DiffEntry

_MISSING = object()


def diff(before: Any, after: Any, path: str = "") -> list[DiffEntry]:
    """Paths (``filters.groups[0].rollout_percentage``) whose values differ, in document order."""
    out: list[DiffEntry] = []
    _walk(before, after, path, out)
    return out


def _walk(before: Any, after: Any, path: str, out: list[DiffEntry]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in [*before, *(k for k in after if k not in before)]:
            _walk(
                before.get(key, _MISSING),
                after.get(key, _MISSING),
                f"{path}.{key}" if path else str(key),
                out,
            )
        return
    if isinstance(before, list) and isinstance(after, list):
        for i in range(max(len(before), len(after))):
            _walk(
                before[i] if i < len(before) else _MISSING,
                after[i] if i < len(after) else _MISSING,
                f"{path}[{i}]",
                out,
            )
        return
    if before is _MISSING and after is _MISSING:
        return
    # bool is an int in Python: True == 1 must still count as a change.
    both = before is not _MISSING and after is not _MISSING
    if both and type(before) is type(after) and before == after:
        return
    if before is _MISSING:
        out.append(DiffEntry(path=path, after=after))
    elif after is _MISSING:
        out.append(DiffEntry(path=path, before=before))
    else:
        out.append(DiffEntry(path=path, before=before, after=after))
