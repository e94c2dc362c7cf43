"""Opaque pagination cursors: a small msgspec Struct, msgpack-encoded, in URL-safe base64."""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar

import msgspec

T = TypeVar("T")


def encode(position: msgspec.Struct) -> str:
    """The cursor string of a position Struct."""
    raw = msgspec.msgpack.encode(position)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(value: str, kind: type[T]) -> T | None:
    """The position a cursor holds; None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return msgspec.msgpack.decode(raw, type=kind)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        return None
