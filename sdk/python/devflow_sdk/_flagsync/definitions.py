"""A definitions document, compiled once and shared read-only by every evaluating thread."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from devflow_sdk.flags import FlagSet

SERVER: Final = "server"
CACHE: Final = "cache"
BOOTSTRAP: Final = "bootstrap"

_decoder = msgspec.json.Decoder()


class DefinitionsError(ValueError):
    """A document that is not PostHog's local-evaluation shape."""


class Definitions:
    """An immutable snapshot: the compiled :class:`FlagSet`, each flag's raw definition by key
    (for reasons the engine doesn't report, such as whether a rollout decided), the ETag it
    came with (unquoted) and where it came from."""

    __slots__ = ("body", "document", "etag", "flags", "flagset", "source")

    def __init__(self, document: Mapping[str, Any], body: bytes, etag: str | None, source: str):
        flags = document.get("flags")
        if not isinstance(flags, list):
            raise DefinitionsError("the document has no 'flags' list")
        self.document = document
        self.body = body
        self.etag = etag
        self.source = source
        self.flags: Mapping[str, Mapping[str, Any]] = {
            f["key"]: f for f in flags if isinstance(f, Mapping) and isinstance(f.get("key"), str)
        }
        self.flagset = FlagSet.from_definitions(document)


def parse(body: bytes, *, etag: str | None, source: str) -> Definitions:
    """Decode and compile a definitions document; ``DefinitionsError`` when it is unusable."""
    try:
        document = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise DefinitionsError(f"the definitions are not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DefinitionsError("the definitions are not a JSON object")
    return Definitions(document, body, etag, source)


def unquote(etag: str | None) -> str | None:
    """An ETag header value as the bare tag the stream uses for its event ids."""
    if not etag:
        return None
    return etag.strip().removeprefix("W/").strip('"') or None


def changed_keys(old: Definitions | None, new: Definitions) -> list[str]:
    """Keys whose evaluation may differ between two snapshots: flags added, removed or
    edited, and every flag when cohorts or group types changed."""
    if old is None:
        return sorted(new.flags)
    shared = ("cohorts", "group_type_mapping", "property_matching_version")
    if any(old.document.get(k) != new.document.get(k) for k in shared):
        return sorted(set(old.flags) | set(new.flags))
    keys = set(old.flags) ^ set(new.flags)
    keys.update(k for k in set(old.flags) & set(new.flags) if old.flags[k] != new.flags[k])
    return sorted(keys)
