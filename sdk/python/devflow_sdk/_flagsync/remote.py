"""Remote evaluation through ``POST /flags/?v=2``: the only choice without a secret key, and
the fallback for the flags local evaluation reports as undecidable."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Final

import msgspec

from devflow_sdk._flagsync.details import EVALUATION_ERROR, FlagDetails, failure, is_split
from devflow_sdk.errors import APIError, TransportError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from devflow_sdk._http import Transport

log = logging.getLogger("devflow_sdk.flags")

FLAGS_PATH: Final = "/flags/?v=2"
# After the server could not be reached, skip remote calls for this long: callers get their
# default at once instead of each waiting for a connect timeout.
COOLDOWN_S: Final = 5.0


class _Reason(msgspec.Struct):
    code: str = ""
    condition_index: int | None = None
    description: str = ""


class _Metadata(msgspec.Struct):
    id: int | None = None
    version: int | None = None
    payload: Any = None


class _Flag(msgspec.Struct):
    key: str
    enabled: bool = False
    variant: str | None = None
    reason: _Reason | None = None
    metadata: _Metadata | None = None
    failed: bool = False


class _Response(msgspec.Struct):
    flags: dict[str, _Flag] = {}
    requestId: str | None = None  # noqa: N815 - the wire name


_decoder = msgspec.json.Decoder(_Response)
_encoder = msgspec.json.Encoder()


class RemoteEvaluator:
    def __init__(self, transport: Transport, token: str) -> None:
        self._transport = transport
        self._token = token
        self._lock = threading.Lock()
        self._down_until = 0.0

    def after_fork(self) -> None:
        self._lock = threading.Lock()

    def evaluate(
        self,
        distinct_id: str,
        *,
        keys: Collection[str] | None,
        person_properties: Mapping[str, Any] | None,
        groups: Mapping[str, Any] | None,
        group_properties: Mapping[str, Mapping[str, Any]] | None,
        definitions: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, FlagDetails] | None:
        """The server's answer for ``keys`` (every flag when ``None``), or ``None`` when it
        could not be had. ``definitions`` (raw flags by key) lets reasons say whether a
        rollout decided."""
        if time.monotonic() < self._down_until:
            log.debug("devflow: /flags skipped, the server was unreachable moments ago")
            return None
        body: dict[str, Any] = {"api_key": self._token, "distinct_id": distinct_id}
        if person_properties:
            body["person_properties"] = dict(person_properties)
        if groups:
            body["groups"] = dict(groups)
        if group_properties:
            body["group_properties"] = {k: dict(v) for k, v in group_properties.items()}
        if keys is not None:
            body["flag_keys_to_evaluate"] = list(keys)
        try:
            resp = self._transport.post(FLAGS_PATH, _encoder.encode(body))
            if not resp.ok:
                raise APIError.from_response(resp)
            decoded = _decoder.decode(resp.body)
        except TransportError as exc:
            with self._lock:
                self._down_until = time.monotonic() + COOLDOWN_S
            log.debug("devflow: /flags unreachable: %s", exc)
            return None
        except (APIError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.debug("devflow: /flags failed: %s", exc)
            return None
        return {
            key: _details(flag, decoded.requestId, (definitions or {}).get(key))
            for key, flag in decoded.flags.items()
        }


def _details(
    flag: _Flag, request_id: str | None, definition: Mapping[str, Any] | None
) -> FlagDetails:
    reason = flag.reason or _Reason()
    if flag.failed:
        out = failure(flag.key, EVALUATION_ERROR, reason.description or "failed on the server")
        return msgspec.structs.replace(out, request_id=request_id)
    meta = flag.metadata or _Metadata()
    value: bool | str = flag.variant if flag.variant is not None else flag.enabled
    return FlagDetails(
        key=flag.key,
        value=value,
        reason=reason.code,
        variant=flag.variant,
        payload=meta.payload if flag.enabled else None,
        description=reason.description,
        condition_index=reason.condition_index,
        flag_id=meta.id,
        version=meta.version,
        split=is_split(definition, reason.code, reason.condition_index, flag.variant),
        request_id=request_id,
    )
