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
from devflow_sdk._http import Transport
from devflow_sdk.errors import ConfigError

if TYPE_CHECKING:
    import os

    from devflow_sdk._flagsync.definitions import Definitions

__all__ = ["FlagDetails", "FlagOptions", "FlagsChange", "FlagsManager"]

log = logging.getLogger("devflow_sdk.flags")

Properties = Mapping[str, Any]
GroupProperties = Mapping[str, Mapping[str, Any]]


class FlagOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How the SDK gets and evaluates feature flags.

    - ``flags_ready_timeout``: block the constructor until definitions are there (or this many
      seconds passed); ``None`` returns at once and evaluations until then go to the server.
    - ``cache_dir``: keep the last definitions received on disk and start from them, so a
      restart during an outage still evaluates flags (with a secret key, or offline).
    - ``bootstrap``: a definitions file (what ``GET /flags/definitions`` returns) to start
      from; with ``offline`` the only source.
    - ``offline``: never contact the server for flags.
    - ``remote_fallback``: ask ``/flags`` for flags local evaluation cannot decide.
    - ``stream``: follow changes over server-sent events (else only poll).
    - ``poll_interval``: seconds between ``If-None-Match`` polls while not streaming.
    - ``send_exposures``: send ``$feature_flag_called`` (once per user, flag and value).
    """

    flags_ready_timeout: float | None = None
    cache_dir: str | os.PathLike[str] | None = None
    bootstrap: str | os.PathLike[str] | None = None
    offline: bool = False
    remote_fallback: bool = True
    stream: bool = True
    poll_interval: float = 30.0
    send_exposures: bool = True

    def __post_init__(self) -> None:
        if not self.poll_interval > 0:
            raise ConfigError(f"poll_interval must be positive, not {self.poll_interval!r}")
        if self.flags_ready_timeout is not None and not self.flags_ready_timeout >= 0:
            raise ConfigError(
                f"flags_ready_timeout must be >= 0 or None, not {self.flags_ready_timeout!r}"
            )


class FlagsManager:
    """Flag evaluation for one project; thread-safe, one per process (see ``after_fork``)."""

    def __init__(
        self,
        *,
        token: str,
        host: str,
        secret_key: str | None,
        transport: Transport,
        capture: Callable[[str, str, dict[str, Any]], None],
        options: FlagOptions | None = None,
    ) -> None:
        self._token = token
        self._host = host
        self._secret_key = secret_key
        self._transport = transport
        self._capture = capture
        self._options = options = options or FlagOptions()
        self._store = DefinitionsStore()
        self._remote = RemoteEvaluator(transport, token)
        self._exposures = Exposures(capture)
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
        """One flag with how it was decided; never raises (``error`` says what went wrong)."""
        distinct_id = str(distinct_id)
        try:
            details = self._evaluate(key, distinct_id, person_properties, groups, group_properties)
        except Exception as exc:  # flag reads never raise into the application
            log.debug("devflow: evaluating %r failed: %r", key, exc)
            details = failure(key, EVALUATION_ERROR, f"{type(exc).__name__}: {exc}")
        if send_exposure and self._options.send_exposures:
            self._exposures.record(details, distinct_id, groups)
        return details

    def get_flag(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Properties | None = None,
        group_properties: GroupProperties | None = None,
        send_exposure: bool = True,
    ) -> bool | str | None:
        """The flag's value: its variant, else ``True``/``False``; ``None`` without an answer."""
        return self.get_flag_details(
            key,
            distinct_id,
            person_properties=person_properties,
            groups=groups,
            group_properties=group_properties,
            send_exposure=send_exposure,
        ).value

    def is_enabled(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Properties | None = None,
        group_properties: GroupProperties | None = None,
        send_exposure: bool = True,
    ) -> bool:
        """Whether the flag is on (any variant counts); ``False`` without an answer."""
        return self.get_flag_details(
            key,
            distinct_id,
            person_properties=person_properties,
            groups=groups,
            group_properties=group_properties,
            send_exposure=send_exposure,
        ).enabled

    def get_payload(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Properties | None = None,
        group_properties: GroupProperties | None = None,
        send_exposure: bool = False,
    ) -> Any:
        """The matched variant's payload, decoded from JSON (the raw text if it isn't JSON);
        ``None`` when the flag is off or has no payload."""
        details = self.get_flag_details(
            key,
            distinct_id,
            person_properties=person_properties,
            groups=groups,
            group_properties=group_properties,
            send_exposure=send_exposure,
        )
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
        """Stop following changes and join the sync thread. Evaluation keeps working on the
        last definitions; the transport belongs to the caller and stays open."""
        if self._closed:
            return
        self._closed = True
        if self._sync is not None:
            self._sync.stop(timeout)
        self._store.clear_listeners()

    def after_fork(self) -> None:
        """In a forked child: fresh locks, and a sync thread of the child's own (threads don't
        survive ``fork()``)."""
        self._store.after_fork()
        self._exposures.after_fork()
        self._remote.after_fork()
        if self._sync is not None and not self._closed and self._secret_key:
            self._sync = self._new_sync(self._secret_key)
            self._sync.start()


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
