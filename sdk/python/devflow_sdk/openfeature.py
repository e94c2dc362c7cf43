"""An OpenFeature provider backed by DevFlow feature flags (``openfeature-sdk`` >= 0.10)::

    from openfeature import api
    from devflow_sdk.openfeature import DevFlowProvider

    api.set_provider(DevFlowProvider(client))
    flags = api.get_client()
    ctx = EvaluationContext(targeting_key="user-1", attributes={"plan": "pro"})
    flags.get_boolean_value("new-checkout", False, ctx)

The targeting key is the distinct id; the ``groups`` attribute (``{"company": "acme"}``) and
``group_properties`` attribute (``{"company": {"size": 50}}``) are the groups, and every other
attribute is a person property. Booleans read whether a flag is on, strings read its variant,
and integers, floats and objects read its JSON payload.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec

try:
    from openfeature.event import ProviderEventDetails
    from openfeature.exception import ErrorCode, ProviderNotReadyError
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider import AbstractProvider, Metadata
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "devflow_sdk.openfeature needs openfeature-sdk: pip install 'devflow-sdk[openfeature]'"
    ) from exc

from devflow_sdk._flagsync.details import (
    EVALUATION_ERROR,
    FLAG_DISABLED,
    FLAG_NOT_FOUND,
    NOT_READY,
    UNAVAILABLE,
    FlagDetails,
    decode_payload,
)

if TYPE_CHECKING:
    from typing import Unpack

    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import FlagMetadata, FlagValueType
    from openfeature.track import TrackingEventDetails

    from devflow_sdk._flag_context import FlagReadContext
    from devflow_sdk._flagsync.store import FlagsChange

__all__ = ["DevFlowProvider", "FlagSource"]

log = logging.getLogger("devflow_sdk.flags")

GROUPS = "groups"
GROUP_PROPERTIES = "group_properties"

_ERROR_CODES = {
    FLAG_NOT_FOUND: ErrorCode.FLAG_NOT_FOUND,
    NOT_READY: ErrorCode.PROVIDER_NOT_READY,
    UNAVAILABLE: ErrorCode.GENERAL,
    EVALUATION_ERROR: ErrorCode.GENERAL,
}


@runtime_checkable
class FlagSource(Protocol):
    """What the provider needs: the SDK's ``FlagsManager`` (``client.flags``) has it."""

    @property
    def ready(self) -> bool: ...

    def wait_ready(self, timeout: float | None = None) -> bool: ...

    def get_flag_details(
        self, key: str, distinct_id: str, **context: Unpack[FlagReadContext]
    ) -> FlagDetails: ...

    def on_change(self, callback: Callable[[FlagsChange], None]) -> Callable[[], None]: ...

    def track(
        self, event: str, distinct_id: str, properties: Mapping[str, Any] | None = None
    ) -> None: ...


def _flag_source(client: object) -> FlagSource:
    if isinstance(client, FlagSource):
        return client
    source = getattr(client, "flags", None)  # a Client's or AsyncClient's FlagsManager
    if isinstance(source, FlagSource):
        return source
    raise TypeError(f"{type(client).__name__} is neither a DevFlow client nor its flags manager")


class _Unusable(Exception):
    """A value the flag holds cannot be returned as the type asked for."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class DevFlowProvider(AbstractProvider):
    """OpenFeature resolution over a DevFlow ``Client`` (or its ``FlagsManager``).

    ``initialize`` waits up to ``ready_timeout`` seconds for flag definitions; if they don't
    come the provider reports an error and a later arrival makes it ready. Each definitions
    change afterwards is a ``PROVIDER_CONFIGURATION_CHANGED`` event naming the changed keys.
    Evaluations send ``$feature_flag_called`` exposures unless ``send_exposures`` is false.
    """

    def __init__(
        self, client: object, *, ready_timeout: float = 10.0, send_exposures: bool = True
    ) -> None:
        super().__init__()
        self._flags = _flag_source(client)
        self._ready_timeout = ready_timeout
        self._send_exposures = send_exposures
        self._lock = threading.Lock()
        self._state = "new"  # -> initializing -> ready | failed -> ready
        self._unsubscribe: Callable[[], None] | None = None

    def get_metadata(self) -> Metadata:
        return Metadata(name="DevFlow")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        with self._lock:
            self._state = "initializing"
            if self._unsubscribe is None:
                self._unsubscribe = self._flags.on_change(self._changed)
        self._flags.wait_ready(self._ready_timeout)
        with self._lock:
            if self._flags.ready:
                self._state = "ready"
                return
            self._state = "failed"
        raise ProviderNotReadyError(
            f"no flag definitions within {self._ready_timeout}s; flags are asked of the server"
            " until they arrive"
        )

    def shutdown(self) -> None:
        with self._lock:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            self._state = "new"
        if unsubscribe is not None:
            unsubscribe()

    def _changed(self, change: FlagsChange) -> None:
        details = ProviderEventDetails(
            flags_changed=list(change.flags_changed),
            metadata={"etag": change.etag or "", "source": change.source},
        )
        with self._lock:
            state = self._state
            if state == "failed":
                self._state = "ready"
        if state == "failed":
            self.emit_provider_ready(details)
        elif state == "ready":
            self.emit_provider_configuration_changed(details)

    # --- resolution ------------------------------------------------------------------------

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, _boolean)

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, _string)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context, _integer)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, evaluation_context, _float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return self._resolve(flag_key, default_value, evaluation_context, _object)

    def _resolve(
        self,
        key: str,
        default: Any,
        context: EvaluationContext | None,
        convert: Callable[[FlagDetails], Any],
    ) -> FlagResolutionDetails[Any]:
        if context is None or not context.targeting_key:
            return _error(default, ErrorCode.TARGETING_KEY_MISSING, "no targeting key")
        try:
            person, groups, group_properties = _split(context.attributes)
        except ValueError as exc:
            return _error(default, ErrorCode.INVALID_CONTEXT, str(exc))
        details = self._flags.get_flag_details(
            key,
            context.targeting_key,
            person_properties=person,
            groups=groups,
            group_properties=group_properties,
            send_exposure=self._send_exposures,
        )
        metadata = _metadata(details)
        if details.error is not None:
            code = _ERROR_CODES.get(details.error, ErrorCode.GENERAL)
            return _error(default, code, details.description, metadata)
        if not details.enabled:
            if details.reason == FLAG_DISABLED:
                return FlagResolutionDetails(
                    default, reason=Reason.DISABLED, flag_metadata=metadata
                )
            if details.split and convert is _boolean:
                # Bucketing decided "off": that is the flag's answer, not a fallback.
                return FlagResolutionDetails(
                    False, reason=Reason.SPLIT, variant="false", flag_metadata=metadata
                )
            reason = Reason.SPLIT if details.split else Reason.DEFAULT
            return FlagResolutionDetails(default, reason=reason, flag_metadata=metadata)
        variant = details.variant or "true"
        if convert is not _boolean and convert is not _string and details.payload is None:
            # On, but with no payload to read a value from.
            return FlagResolutionDetails(
                default, reason=Reason.DEFAULT, variant=variant, flag_metadata=metadata
            )
        try:
            value = convert(details)
        except _Unusable as exc:
            return _error(default, exc.code, str(exc), metadata)
        reason = Reason.SPLIT if details.split else Reason.TARGETING_MATCH
        return FlagResolutionDetails(value, reason=reason, variant=variant, flag_metadata=metadata)

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        """Capture ``tracking_event_name`` for the context's targeting key, with the details'
        attributes as properties and its value as ``value``."""
        if evaluation_context is None or not evaluation_context.targeting_key:
            log.debug("devflow: OpenFeature track(%r) without a targeting key", tracking_event_name)
            return
        properties: dict[str, Any] = {}
        if tracking_event_details is not None:
            properties.update(tracking_event_details.attributes)
            if tracking_event_details.value is not None:
                properties["value"] = tracking_event_details.value
        self._flags.track(tracking_event_name, evaluation_context.targeting_key, properties)


def _error(
    default: Any, code: ErrorCode, message: str, metadata: FlagMetadata | None = None
) -> FlagResolutionDetails[Any]:
    return FlagResolutionDetails(
        default,
        error_code=code,
        error_message=message,
        reason=Reason.ERROR,
        flag_metadata=metadata or {},
    )


def _split(
    attributes: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, dict[str, Any]] | None]:
    person: dict[str, Any] = {}
    groups: dict[str, Any] | None = None
    group_properties: dict[str, dict[str, Any]] | None = None
    for name, value in attributes.items():
        if name == GROUPS:
            if not isinstance(value, Mapping):
                raise ValueError("'groups' must map group types to group keys")
            groups = {str(k): _plain(v) for k, v in value.items()}
        elif name == GROUP_PROPERTIES:
            if not isinstance(value, Mapping) or not all(
                isinstance(v, Mapping) for v in value.values()
            ):
                raise ValueError("'group_properties' must map group types to properties")
            group_properties = {
                str(k): {str(p): _plain(x) for p, x in v.items()} for k, v in value.items()
            }
        else:
            person[name] = _plain(value)
    return person, groups, group_properties


def _plain(value: Any) -> Any:
    # The engine and the wire read dates as ISO 8601 text.
    return value.isoformat() if isinstance(value, datetime) else value


def _metadata(details: FlagDetails) -> dict[str, bool | int | float | str]:
    out: dict[str, bool | int | float | str] = {
        "reason_code": details.reason,
        "locally_evaluated": details.locally_evaluated,
    }
    for name, value in (
        ("flag_id", details.flag_id),
        ("version", details.version),
        ("condition_index", details.condition_index),
        ("description", details.description),
        ("request_id", details.request_id),
    ):
        if value is not None and value != "":
            out[name] = value
    return out


def _payload(details: FlagDetails) -> Any:
    try:
        return decode_payload(details.payload)
    except msgspec.DecodeError as exc:
        raise _Unusable(ErrorCode.PARSE_ERROR, f"the payload is not JSON: {exc}") from None


def _boolean(details: FlagDetails) -> bool:
    return details.enabled


def _string(details: FlagDetails) -> str:
    if details.variant is None:
        raise _Unusable(ErrorCode.TYPE_MISMATCH, "a boolean flag has no variant; read a boolean")
    return details.variant


def _integer(details: FlagDetails) -> int:
    value = _payload(details)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Unusable(ErrorCode.TYPE_MISMATCH, f"the payload is {type(value).__name__}, not int")
    return value


def _float(details: FlagDetails) -> float:
    value = _payload(details)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Unusable(
            ErrorCode.TYPE_MISMATCH, f"the payload is {type(value).__name__}, not a number"
        )
    return float(value)


def _object(details: FlagDetails) -> Any:
    value = _payload(details)
    if not isinstance(value, dict | list):
        raise _Unusable(
            ErrorCode.TYPE_MISMATCH, f"the payload is {type(value).__name__}, not an object"
        )
    return value
