"""Events as they go on the wire: built, validated and JSON-encoded on the caller's thread.

An event is encoded to bytes the moment it is captured. That fixes its content (the caller may
mutate its properties dict afterwards), surfaces unencodable properties to the caller's call
(logged and counted, never raised) and leaves the sender nothing to do but join bytes. Its uuid
(UUIDv7) and timestamp are fixed at capture too, so a retry or a replay from the spool carries the
same uuid and the server stores the event once.
"""

from __future__ import annotations

import itertools
import os
import random
import time
import uuid as uuid_mod
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from devflow_sdk._version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "LIB",
    "MAX_EVENT_BYTES",
    "EventFactory",
    "InvalidEvent",
    "new_uuid7",
]

LIB = "devflow-sdk-python"
# The server rejects a larger event (docs/ingest.md, Limits); refusing it here says why sooner.
MAX_EVENT_BYTES = 1_048_576


class InvalidEvent(ValueError):
    """The arguments do not make an event; ``capture()`` logs and counts it, never raises it."""


class WireEvent(msgspec.Struct, omit_defaults=True):
    """One event of a ``/batch/`` request, in PostHog's shape."""

    event: str
    distinct_id: str
    properties: dict[str, Any]
    timestamp: datetime | str
    uuid: str
    set: Mapping[str, Any] | None = msgspec.field(default=None, name="$set")
    set_once: Mapping[str, Any] | None = msgspec.field(default=None, name="$set_once")


def _enc_hook(obj: Any) -> Any:
    # Types msgspec does not know (a numpy scalar, a Path, an ORM object) go as their text, as
    # they would print; an event is worth more than a TypeError in someone's request handler.
    return str(obj)


class _Uuid7:
    """UUIDv7 strings: 48-bit millisecond time, random bits, a per-millisecond counter.

    RFC 9562 allows a counter in the random bits (its "method 1"); it makes uuids minted in one
    millisecond increase, and it is twice as fast as formatting fresh random bits each time.
    The counter starts at a random 47-bit value; the version/variant nibbles and 26 other random
    bits are drawn once per millisecond.
    """

    __slots__ = ("_state",)

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # Called in a forked child: it must not continue the parent's counter in the same ms.
        self._state: tuple[int, str, itertools.count[int]] = (-1, "", itertools.count())

    def __call__(self) -> str:
        ms = time.time_ns() // 1_000_000
        state = self._state
        if state[0] != ms:
            # One tuple swapped in at once: another thread sees the old state or the new one.
            h = f"{ms:012x}"
            r = random.getrandbits(26)
            prefix = f"{h[:8]}-{h[8:]}-7{r >> 14:03x}-{(r & 0x3FFF) | 0x8000:04x}-"
            state = self._state = (ms, prefix, itertools.count(random.getrandbits(47)))
        return f"{state[1]}{next(state[2]):012x}"


new_uuid7 = _Uuid7()
os.register_at_fork(after_in_child=new_uuid7.reset)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _distinct_id(value: object, what: str = "distinct_id") -> str:
    if type(value) is str:
        if value:
            return value
    elif isinstance(value, int | uuid_mod.UUID) and not isinstance(value, bool):
        return str(value)
    raise InvalidEvent(f"{what} must be a non-empty string (or an int or UUID), got {value!r}")


def _name(value: object, what: str) -> str:
    if type(value) is not str or not value:
        raise InvalidEvent(f"{what} must be a non-empty string, got {value!r}")
    return value


def _timestamp(value: object) -> datetime | str:
    # A naive datetime is sent without an offset, which the server reads as UTC.
    if isinstance(value, datetime | str):
        return value
    raise InvalidEvent(f"timestamp must be a datetime or an ISO 8601 string, got {value!r}")


def _uuid(value: object) -> str:
    if isinstance(value, uuid_mod.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid_mod.UUID(value))
        except ValueError:
            pass
    raise InvalidEvent(f"uuid must be a UUID or its string form, got {value!r}")


class EventFactory:
    """Builds the encoded bytes of each kind of event, stamped with a clock and a uuid factory."""

    def __init__(
        self,
        *,
        super_properties: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] | None = None,
        uuid_factory: Callable[[], str] | None = None,
    ) -> None:
        self._lib = {"$lib": LIB, "$lib_version": __version__}
        self._super = dict(super_properties or {})
        self._defaults = {**self._super, **self._lib}
        self._now = clock or utc_now
        self._uuid = uuid_factory or new_uuid7
        self._encode = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="number").encode

    def _properties(self, properties: Mapping[str, Any] | None) -> dict[str, Any]:
        # Caller's keys win over super properties; $lib and $lib_version always say who sent it.
        if properties:
            return {**self._super, **properties, **self._lib}
        if properties is None or isinstance(properties, dict):
            return self._defaults
        raise InvalidEvent(f"properties must be a dict, got {type(properties).__name__}")

    def _finish(
        self,
        event: str,
        distinct_id: str,
        properties: dict[str, Any],
        timestamp: object,
        uuid: object,
        set: Mapping[str, Any] | None = None,
        set_once: Mapping[str, Any] | None = None,
    ) -> tuple[bytes, str]:
        ts = self._now() if timestamp is None else _timestamp(timestamp)
        uid = self._uuid() if uuid is None else _uuid(uuid)
        try:
            body = self._encode(WireEvent(event, distinct_id, properties, ts, uid, set, set_once))
        except (TypeError, ValueError, msgspec.EncodeError, RecursionError) as exc:
            raise InvalidEvent(f"properties cannot be encoded as JSON: {exc}") from exc
        if len(body) > MAX_EVENT_BYTES:
            raise InvalidEvent(f"event is larger than {MAX_EVENT_BYTES} bytes once encoded")
        return body, uid

    def capture(
        self,
        event: object,
        distinct_id: object,
        properties: Mapping[str, Any] | None,
        groups: Mapping[str, Any] | None,
        timestamp: object,
        uuid: object,
    ) -> tuple[bytes, str]:
        if type(event) is not str or not event:
            raise InvalidEvent(f"event must be a non-empty string, got {event!r}")
        did = distinct_id if type(distinct_id) is str and distinct_id else _distinct_id(distinct_id)
        try:
            props = self._properties(properties)
        except TypeError as exc:  # ** on something that is not a mapping
            raise InvalidEvent(f"properties must be a dict: {exc}") from exc
        if groups:
            if not isinstance(groups, dict):
                raise InvalidEvent(f"groups must be a dict, got {type(groups).__name__}")
            props = {**props, "$groups": groups}
        return self._finish(event, did, props, timestamp, uuid)

    def identify(
        self,
        distinct_id: object,
        properties: Mapping[str, Any] | None,
        set_once: Mapping[str, Any] | None,
        timestamp: object,
        uuid: object,
    ) -> tuple[bytes, str]:
        did = _distinct_id(distinct_id)
        return self._finish(
            "$identify",
            did,
            self._lib.copy(),
            timestamp,
            uuid,
            set=_mapping(properties or {}, "properties"),
            set_once=_mapping(set_once, "set_once") if set_once else None,
        )

    def alias(
        self, previous_id: object, distinct_id: object, timestamp: object, uuid: object
    ) -> tuple[bytes, str]:
        # PostHog's shape: the event is the previous id's, naming the new one as "alias".
        previous = _distinct_id(previous_id, "previous_id")
        alias = _distinct_id(distinct_id)
        props = {"distinct_id": previous, "alias": alias, **self._lib}
        return self._finish("$create_alias", previous, props, timestamp, uuid)

    def set(
        self,
        kind: str,
        distinct_id: object,
        properties: Mapping[str, Any] | None,
        timestamp: object,
        uuid: object,
    ) -> tuple[bytes, str] | None:
        """A ``$set`` or ``$set_once`` event; ``None`` when there is nothing to set."""
        did = _distinct_id(distinct_id)
        if not properties:
            return None
        props = _mapping(properties, "properties")
        if kind == "$set":
            return self._finish(kind, did, self._lib.copy(), timestamp, uuid, set=props)
        return self._finish(kind, did, self._lib.copy(), timestamp, uuid, set_once=props)

    def group_identify(
        self,
        group_type: object,
        group_key: object,
        properties: Mapping[str, Any] | None,
        distinct_id: object,
        timestamp: object,
        uuid: object,
    ) -> tuple[bytes, str]:
        gtype = _name(group_type, "group_type")
        gkey = _distinct_id(group_key, "group_key")
        did = f"${gtype}_{gkey}" if distinct_id is None else _distinct_id(distinct_id)
        props = {
            "$group_type": gtype,
            "$group_key": gkey,
            "$group_set": _mapping(properties or {}, "properties"),
            **self._lib,
        }
        return self._finish("$groupidentify", did, props, timestamp, uuid)


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidEvent(f"{what} must be a dict, got {type(value).__name__}")
    return value
