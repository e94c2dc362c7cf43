"""Feature flags in the SDK: local evaluation kept live, with the server as a fallback.

With a secret key the manager holds the project's definitions (fetched with ``ETag``, then
kept current by the server-sent event stream, or by polling while the stream is down) and
evaluates with the same engine as the server. A flag that local evaluation cannot decide
(a property the caller didn't pass, a static cohort...) is asked of ``/flags``. Without a
secret key every evaluation is remote. No flag read ever raises: a flag without an answer
reads as ``None`` (``False`` for :meth:`FlagsManager.is_enabled`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from devflow_sdk._flag_options import FlagOptions
from devflow_sdk._flagsync.bootstrap import load_bootstrap
from devflow_sdk._flagsync.cache import DiskCache
from devflow_sdk._flagsync.details import (
    EVALUATION_ERROR,
    FLAG_NOT_FOUND,
    NOT_READY,
    UNAVAILABLE,
    FlagDetails,
    decode_payload,
    failure,
    from_evaluation,
)
from devflow_sdk._flagsync.exposures import Exposures
from devflow_sdk._flagsync.remote import RemoteEvaluator
from devflow_sdk._flagsync.store import DefinitionsStore, FlagsChange
from devflow_sdk._flagsync.sync import DefinitionsSync
from devflow_sdk._http import DEFAULT_HOST, Transport
from devflow_sdk.errors import ConfigError

if TYPE_CHECKING:
    from typing import Unpack

    from devflow_sdk._flag_context import FlagReadContext
    from devflow_sdk._flagsync.definitions import Definitions

__all__ = ["FlagDetails", "FlagOptions", "FlagsChange", "FlagsManager"]

log = logging.getLogger("devflow_sdk.flags")

Properties = Mapping[str, Any]
GroupProperties = Mapping[str, Mapping[str, Any]]


class FlagsManager:
    """Flag evaluation for one project; thread-safe, one per process (see ``after_fork``).

    ``Client`` builds one (``client.flags``); build one directly to evaluate flags without the
    capture pipeline. ``capture(event, distinct_id, properties)`` is how exposures
    (``$feature_flag_called``) and ``track`` events leave; without it they are not sent.
    ``timeout`` is the HTTP timeout per request, in seconds.
    """

    def __init__(
        self,
        token: str,
        host: str = DEFAULT_HOST,
        secret_key: str | None = None,
        *,
        options: FlagOptions | None = None,
        capture: Callable[[str, str, dict[str, Any]], None] | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not (isinstance(token, str) and token):
            raise ConfigError("token must be a non-empty string")
        if not timeout > 0:
            raise ConfigError(f"timeout must be > 0, not {timeout!r}")
        self._token = token
        self._host = host
        self._secret_key = secret_key
        # A pool of the manager's own: a slow capture batch never holds up a flag read.
        self._transport = transport = Transport(host, timeout=timeout)
        self._capture = capture or _no_capture
        self._options = options = options or FlagOptions()
        self._store = DefinitionsStore()
        self._remote = RemoteEvaluator(transport, token)
        self._exposures = Exposures(self._capture)
        self._closed = False
        # Local evaluation whenever definitions can exist; remote-only otherwise.
        self._local = bool(secret_key) or options.offline or options.bootstrap is not None
        self._cache: DiskCache | None = None
        if options.cache_dir is not None and (secret_key or options.offline):
            self._cache = DiskCache(options.cache_dir, token)
        if (start := self._initial_definitions()) is not None:
            self._store.replace(start)
        self._sync: DefinitionsSync | None = None
        if secret_key and not options.offline:
            self._sync = self._new_sync(secret_key)
            self._sync.start()
            if options.flags_ready_timeout is not None:
                self._sync.settled.wait(options.flags_ready_timeout)

    def _initial_definitions(self) -> Definitions | None:
        options = self._options
        bootstrap = load_bootstrap(options.bootstrap) if options.bootstrap is not None else None
        cached = self._cache.load() if self._cache is not None else None
        if options.offline:
            return bootstrap or cached
        return cached or bootstrap  # the server's last word is fresher than a shipped file

    def _new_sync(self, secret_key: str) -> DefinitionsSync:
        # The stream gets a connection pool of its own: it holds a connection for hours.
        stream_transport = Transport(
            self._host, timeout=self._transport.timeout, user_agent=self._transport.user_agent
        )
        return DefinitionsSync(
            transport=self._transport,
            stream_transport=stream_transport,
            token=self._token,
            secret_key=secret_key,
            store=self._store,
            cache=self._cache,
            stream=self._options.stream,
            poll_interval=self._options.poll_interval,
        )

    # --- state ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether flags can be evaluated without waiting: definitions are loaded (local
        evaluation), or there is nothing to load (remote evaluation)."""
        return self._store.current is not None or not self._local

    @property
    def definitions_etag(self) -> str | None:
        """The version of the definitions in use (the server's ETag, unquoted)."""
        current = self._store.current
        return current.etag if current is not None else None

    @property
    def streaming(self) -> bool:
        """Whether the live-update stream is connected right now."""
        return self._sync is not None and self._sync.streaming

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until :attr:`ready` (or ``timeout`` seconds); returns :attr:`ready`."""
        if not self._local:
            return True
        return self._store.ready.wait(timeout)

    def on_change(self, callback: Callable[[FlagsChange], None]) -> Callable[[], None]:
        """Call ``callback`` (on the sync thread) whenever new definitions take effect;
        returns a function that unregisters it."""
        return self._store.add_listener(callback)

    # --- evaluation ------------------------------------------------------------------------

    def get_flag_details(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Properties | None = None,
        group_properties: GroupProperties | None = None,
        send_exposure: bool = True,
    ) -> FlagDetails:
        """One flag with how it was decided; never raises (``error`` says what went wrong).

        Its keywords are ``FlagReadContext``'s, spelt out here where the defaults live."""
        distinct_id = str(distinct_id)
        try:
            details = self._evaluate(key, distinct_id, person_properties, groups, group_properties)
        except Exception as exc:  # flag reads never raise into the application
            log.debug("devflow: evaluating %r failed: %r", key, exc)
            details = failure(key, EVALUATION_ERROR, f"{type(exc).__name__}: {exc}")
        if send_exposure and self._options.send_exposures:
            self._exposures.record(details, distinct_id, groups)
        return details

    # The other reads take get_flag_details' keywords (FlagReadContext) and pass them through.

    def get_flag(
        self, key: str, distinct_id: str, **context: Unpack[FlagReadContext]
    ) -> bool | str | None:
        """The flag's value: its variant, else ``True``/``False``; ``None`` without an answer."""
        return self.get_flag_details(key, distinct_id, **context).value

    def is_enabled(self, key: str, distinct_id: str, **context: Unpack[FlagReadContext]) -> bool:
        """Whether the flag is on (any variant counts); ``False`` without an answer."""
        return self.get_flag_details(key, distinct_id, **context).enabled

    def get_payload(self, key: str, distinct_id: str, **context: Unpack[FlagReadContext]) -> Any:
        """The matched variant's payload, decoded from JSON (the raw text if it isn't JSON);
        ``None`` when the flag is off or has no payload. Sends no exposure unless
        ``send_exposure=True``."""
        context.setdefault("send_exposure", False)  # reading a payload is not an exposure
        details = self.get_flag_details(key, distinct_id, **context)
        if not details.enabled or details.payload is None:
            return None
        try:
            return decode_payload(details.payload)
        except msgspec.DecodeError:
            log.debug("devflow: the payload of %r is not JSON; returning it as text", key)
            return details.payload

    def get_all_flags(
        self,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Properties | None = None,
        group_properties: GroupProperties | None = None,
    ) -> dict[str, bool | str]:
        """Every flag with an answer; the undecidable ones are asked of the server in one
        request. Sends no exposures."""
        distinct_id = str(distinct_id)
        try:
            return self._evaluate_all(distinct_id, person_properties, groups, group_properties)
        except Exception as exc:  # flag reads never raise into the application
            log.debug("devflow: evaluating all flags failed: %r", exc)
            return {}

    def track(self, event: str, distinct_id: str, properties: Properties | None = None) -> None:
        """Queue an event through the client's capture path (for the OpenFeature provider)."""
        try:
            self._capture(event, str(distinct_id), dict(properties or {}))
        except Exception as exc:
            log.debug("devflow: could not queue %r: %r", event, exc)

    def _evaluate(
        self,
        key: str,
        distinct_id: str,
        person_properties: Properties | None,
        groups: Properties | None,
        group_properties: GroupProperties | None,
    ) -> FlagDetails:
        current = self._store.current
        if current is None:
            remote = self._ask_server(
                [key], distinct_id, person_properties, groups, group_properties, None
            )
            if remote is not None:
                return remote.get(key) or failure(
                    key, FLAG_NOT_FOUND, "the server has no such flag"
                )
            if self._local:
                return failure(key, NOT_READY, "no flag definitions yet and no server answer")
            return failure(key, UNAVAILABLE, "the server could not be asked")
        ev = current.flagset.evaluate(
            key,
            distinct_id,
            person_properties=_person(distinct_id, person_properties),
            groups=groups,
            group_properties=_group_properties(groups, group_properties),
        )
        if ev is None:
            return failure(key, FLAG_NOT_FOUND, "no flag with this key in the definitions")
        local = from_evaluation(ev, current.flags.get(key))
        if not ev.inconclusive:
            return local
        remote = self._ask_server(
            [key], distinct_id, person_properties, groups, group_properties, current.flags
        )
        if remote is not None and key in remote:
            return remote[key]
        return local  # inconclusive: UNAVAILABLE with the engine's explanation

    def _evaluate_all(
        self,
        distinct_id: str,
        person_properties: Properties | None,
        groups: Properties | None,
        group_properties: GroupProperties | None,
    ) -> dict[str, bool | str]:
        current = self._store.current
        out: dict[str, bool | str] = {}
        undecided: list[str] | None = None  # None: ask for every flag
        if current is not None:
            results = current.flagset.evaluate_all(
                distinct_id,
                person_properties=_person(distinct_id, person_properties),
                groups=groups,
                group_properties=_group_properties(groups, group_properties),
            )
            undecided = []
            for key, ev in results.items():
                if ev.inconclusive:
                    undecided.append(key)
                elif ev.error is None:
                    out[key] = ev.value
            if not undecided:
                return out
        remote = self._ask_server(
            undecided,
            distinct_id,
            person_properties,
            groups,
            group_properties,
            current.flags if current is not None else None,
        )
        for key, details in (remote or {}).items():
            if details.value is not None:
                out[key] = details.value
        return out

    def _ask_server(
        self,
        keys: Collection[str] | None,
        distinct_id: str,
        person_properties: Properties | None,
        groups: Properties | None,
        group_properties: GroupProperties | None,
        definitions: Mapping[str, Mapping[str, Any]] | None,
    ) -> dict[str, FlagDetails] | None:
        if self._options.offline or (self._local and not self._options.remote_fallback):
            return None
        return self._remote.evaluate(
            distinct_id,
            keys=keys,
            person_properties=person_properties,
            groups=groups,
            group_properties=group_properties,
            definitions=definitions,
        )

    # --- lifecycle -------------------------------------------------------------------------

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop following changes, join the sync thread (at most ``timeout`` seconds) and close
        connections. Local evaluation keeps working on the last definitions; a flag only the
        server could decide then has no answer."""
        if self._closed:
            return
        self._closed = True
        if self._sync is not None:
            self._sync.stop(timeout)
        self._store.clear_listeners()
        self._transport.close()

    def __enter__(self) -> FlagsManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def after_fork(self) -> None:
        """In a forked child: fresh locks, and a sync thread of the child's own (threads don't
        survive ``fork()``)."""
        self._store.after_fork()
        self._exposures.after_fork()
        self._remote.after_fork()
        if self._sync is not None and not self._closed and self._secret_key:
            self._sync = self._new_sync(self._secret_key)
            self._sync.start()


def _no_capture(event: str, distinct_id: str, properties: dict[str, Any]) -> None:
    """Where exposures go when the manager has no capture path: nowhere."""


def _person(distinct_id: str, properties: Properties | None) -> dict[str, Any]:
    # As the server and PostHog's SDKs do: the distinct id is always a person property.
    person: dict[str, Any] = {"distinct_id": distinct_id}
    if properties:
        person.update(properties)
    return person


def _group_properties(
    groups: Properties | None, properties: GroupProperties | None
) -> GroupProperties | None:
    if not groups:
        return properties
    out: dict[str, dict[str, Any]] = {}
    for group_type, group_key in groups.items():
        merged: dict[str, Any] = {"$group_key": group_key}
        merged.update((properties or {}).get(group_type) or {})
        out[group_type] = merged
    return out
