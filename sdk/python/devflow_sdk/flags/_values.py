"""Value coercions exactly as PostHog's evaluators apply them.

Properties and filter values are compared as text (``exact``, ``icontains``, ``regex``...): a
string is itself, anything else is rendered the way the flags service renders JSON (``null``,
``true``, ``1.5``, ``[1,"a"]``, objects with sorted keys). Values with no JSON rendering (NaN, a
``datetime``, a tuple...) make the filter inconclusive. Numbers are parsed strictly (no spaces, no
``inf``/``nan``, booleans are not numbers).
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any, Final

from ._types import Inconclusive

_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NUMBER_TEXT: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _float_text(value: float, reason: str) -> str:
    if not math.isfinite(value):
        raise Inconclusive("a non-finite number has no JSON form", reason)
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, _, exponent_text = text.partition("e")
    exponent = int(exponent_text)
    if -6 < exponent < 0:
        return format(Decimal(text), "f")
    return f"{mantissa}e{'+' if exponent >= 0 else ''}{exponent}"


def _json_text(value: Any, reason: str) -> str:
    """``value`` rendered as compact JSON (strings quoted)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value, reason)
    if isinstance(value, list):
        return "[" + ",".join([_json_text(item, reason) for item in value]) + "]"
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise Inconclusive("object keys must be strings", reason)
        return (
            "{"
            + ",".join(
                f"{json.dumps(k, ensure_ascii=False)}:{_json_text(value[k], reason)}"
                for k in sorted(value)
            )
            + "}"
        )
    raise Inconclusive(f"a {type(value).__name__} value has no JSON form", reason)


def as_text(value: Any, reason: str) -> str:
    """A property or filter value as the text PostHog compares: strings as they are."""
    if isinstance(value, str):
        return value
    return _json_text(value, reason)


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only, as the text operators (``icontains``...) do."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def parse_number(value: Any) -> float | None:
    """A finite float for numbers and strictly numeric strings; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value) is None:
        return None
    try:
        parsed = float(value)
    except (ValueError, OverflowError):
        return None
    return parsed if math.isfinite(parsed) else None


def is_boolean_like(value: Any) -> bool:
    """True for booleans, ``"true"``/``"false"`` in any case, and lists made only of those."""
    if isinstance(value, bool):
        return True
    if isinstance(value, str):
        return value.lower() in ("true", "false")
    if isinstance(value, list):
        return all(is_boolean_like(item) for item in value)
    return False


def is_true_like(value: Any) -> bool:
    """True for ``True``, ``"true"`` in any case, and lists made only of those."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    if isinstance(value, list):
        return all(is_true_like(item) for item in value)
    return False


# --- semantic versions -----------------------------------------------------------------------

Version = tuple[int, int, int]


def _version_part(part: str) -> int:
    if not part or not part.isdigit():
        raise ValueError(f"not a version number: {part!r}")
    if len(part) > 1 and part[0] == "0":
        raise ValueError(f"leading zero in {part!r}")
    return int(part)


def parse_version(value: Any) -> Version:
    """(major, minor, patch) from ``v1.2.3-beta+build``-like text; missing parts are 0."""
    text = str(value).strip().lstrip("vV").split("-")[0].split("+")[0]
    parts = text.split(".")
    if not parts[0]:
        raise ValueError("empty version")
    minor = _version_part(parts[1]) if len(parts) > 1 and parts[1] else 0
    patch = _version_part(parts[2]) if len(parts) > 2 and parts[2] else 0
    return _version_part(parts[0]), minor, patch


def version_range(operator: str, value: Any) -> tuple[Version, Version]:
    """[lower, upper) for the ``semver_tilde``, ``semver_caret`` and ``semver_wildcard`` filters."""
    if operator == "semver_wildcard":
        cleaned = str(value).strip().lstrip("vV").replace("*", "").rstrip(".")
        parts = [p for p in cleaned.split(".") if p]
        if not parts:
            raise ValueError("empty wildcard")
        numbers = [_version_part(p) for p in parts[:3]]
        if len(numbers) == 1:
            return (numbers[0], 0, 0), (numbers[0] + 1, 0, 0)
        if len(numbers) == 2:
            return (numbers[0], numbers[1], 0), (numbers[0], numbers[1] + 1, 0)
        return (numbers[0], numbers[1], numbers[2]), (numbers[0], numbers[1], numbers[2] + 1)
    major, minor, patch = parse_version(str(value))
    if operator == "semver_tilde":
        return (major, minor, patch), (major, minor + 1, 0)
    if major > 0:
        return (major, minor, patch), (major + 1, 0, 0)
    if minor > 0:
        return (major, minor, patch), (0, minor + 1, 0)
    return (major, minor, patch), (0, 0, patch + 1)
