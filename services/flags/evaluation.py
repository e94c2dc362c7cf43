"""Remote evaluation (PostHog's ``/flags`` and ``/decide``) with the SDK's engine.

The subject's stored properties (persons projection, groups, static cohorts, billing and churn
traits) are read in one query and merged under what the request sends, which wins.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.api import FieldError
from schemas.flags import DecideResponse, FlagDetail, FlagMetadata, FlagReason, FlagsResponse
from services.core.bodies import decode_json
from services.core.capture.encoding import decode_body
from services.core.capture.limits import MAX_REQUEST_BYTES
from services.flags.errors import InvalidRequest, InvalidToken

if TYPE_CHECKING:
    from devflow_sdk.flags import Evaluation

    from services.core.db import Pool
    from services.core.service import Context
    from services.flags.definitions import Hub, Snapshot
    from services.flags.subjects import SubjectCache

_OBJECT = dict[str, Any]
_encoder = msgspec.json.Encoder()
MAX_KEY_LENGTH = 400


@dataclass(frozen=True)
class EvalRequest:
    """A checked ``/flags`` request: the project token, the subject and what to evaluate."""

    token: str
    distinct_id: str
    groups: dict[str, str]
    person_properties: dict[str, Any]
    group_properties: dict[str, dict[str, Any]]
    keys: list[str] | None


def parse_request(
    body: bytes,
    *,
    content_encoding: str = "",
    content_type: str = "",
    compression: str | None = None,
    query_token: str | None = None,
) -> EvalRequest:
    """Decode and check a ``/flags`` body; every fault is named by its field."""
    raw = decode_body(body, content_encoding, content_type, compression)
    # Properties sent for one evaluation are not stored: a NUL in them is harmless.
    data = decode_json(raw, _OBJECT, limit=MAX_REQUEST_BYTES, allow_nul=True, error=InvalidRequest)
    errors: list[FieldError] = []
    token = data.get("api_key") or data.get("token") or query_token
    if not isinstance(token, str) or not token:
        raise InvalidToken(
            "no project token in the request",
            [FieldError("api_key", "missing: send api_key or token")],
        )
    distinct_id = data.get("distinct_id")
    if isinstance(distinct_id, int | float) and not isinstance(distinct_id, bool):
        distinct_id = str(distinct_id)
    if not isinstance(distinct_id, str) or not distinct_id.strip():
        errors.append(FieldError("distinct_id", "missing: a non-empty string is required"))
        distinct_id = ""
    elif len(distinct_id) > 1000 or "\x00" in distinct_id:
        errors.append(FieldError("distinct_id", "longer than 1000 characters or contains NUL"))
    groups = _groups(data.get("groups"), errors)
    person_properties = _object(data.get("person_properties"), "person_properties", errors)
    group_properties = _object(data.get("group_properties"), "group_properties", errors)
    for name, props in group_properties.items():
        if not isinstance(props, dict):
            errors.append(FieldError(f"group_properties.{name}", "must be an object"))
    keys = data.get("flag_keys_to_evaluate", data.get("flag_keys"))
    if keys is not None and (
        not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)
    ):
        errors.append(FieldError("flag_keys_to_evaluate", "must be a list of flag keys"))
        keys = None
    if errors:
        raise InvalidRequest("the flags request is not valid", errors)
    return EvalRequest(token, distinct_id, groups, person_properties, group_properties, keys)


def _object(value: Any, field: str, errors: list[FieldError]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(FieldError(field, "must be an object"))
        return {}
    return value


def _groups(value: Any, errors: list[FieldError]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, key in _object(value, "groups", errors).items():
        if isinstance(key, str | int | float) and not isinstance(key, bool):
            out[name] = str(key)
        else:
            errors.append(FieldError(f"groups.{name}", "must be a string group key"))
    return out


async def evaluate(
    ctx: Context, hub: Hub, subjects: SubjectCache, pool: Pool, req: EvalRequest
) -> tuple[Snapshot, dict[str, Evaluation]]:
    """Evaluate every flag (or ``req.keys``) for the subject; ``pool`` is an autocommit pool."""
    project_id = await ctx.projects.by_token(req.token)
    if project_id is None:
        raise InvalidToken("the project token is not valid", [FieldError("api_key", "unknown")])
    snapshot = await hub.snapshot(project_id)
    if not len(snapshot.flagset):
        return snapshot, {}
    subject = await subjects.subject(
        pool,
        project_id,
        req.distinct_id,
        req.groups,
        static_cohorts=snapshot.has_static_cohorts,
        revision=snapshot.revision,
    )
    person = {"distinct_id": req.distinct_id}
    person.update(subject.person_properties or {})
    person.update(_traits(subject.person_traits))
    person.update(req.person_properties)
    group_props: dict[str, dict[str, Any]] = {}
    for group_type, group_key in req.groups.items():
        props: dict[str, Any] = {"$group_key": group_key}
        props.update((subject.group_properties or {}).get(group_type) or {})
        props.update(_traits((subject.group_traits or {}).get(group_type)))
        props.update(req.group_properties.get(group_type) or {})
        group_props[group_type] = props
    results = snapshot.flagset.evaluate_all(
        req.distinct_id,
        person_properties=person,
        groups=req.groups,
        group_properties=group_props,
        cohort_membership=subject.static_cohorts,
        complete=True,
        keys=req.keys,
    )
    return snapshot, results


def _traits(traits: dict[str, Any] | None) -> dict[str, Any]:
    if not traits:
        return {}
    out = {}
    if traits.get("plan") is not None:
        out["$plan"] = traits["plan"]
    # $plan_status, $mrr, $entitlements, $billing_customer_id (see flags.consumers).
    out.update(traits.get("billing") or {})
    if traits.get("churn_risk") is not None:
        out["churn_risk"] = traits["churn_risk"]
    return out


def _failed(ev: Evaluation) -> bool:
    return ev.reason == "error" or ev.inconclusive


def _payload(ev: Evaluation) -> str | None:
    if ev.payload is None or _failed(ev):
        return None
    if isinstance(ev.payload, str):
        return ev.payload
    return _encoder.encode(ev.payload).decode()


def flags_response(results: dict[str, Evaluation]) -> FlagsResponse:
    """The ``/flags`` (v2+) body: every flag with its reason and metadata; failed ones marked."""
    flags = {
        key: FlagDetail(
            key=key,
            enabled=ev.enabled and not _failed(ev),
            variant=ev.variant if not _failed(ev) else None,
            reason=FlagReason(
                code=ev.reason, condition_index=ev.condition_index, description=ev.description
            ),
            metadata=FlagMetadata(id=ev.flag_id, version=ev.version, payload=_payload(ev)),
            failed=_failed(ev),
        )
        for key, ev in results.items()
    }
    return FlagsResponse(
        flags=flags,
        errors=any(_failed(ev) for ev in results.values()),
        requestId=str(uuid.uuid4()),
    )


def decide_response(results: dict[str, Evaluation]) -> DecideResponse:
    """The ``/decide`` (v1) body: values and payloads; failed flags left out as PostHog does."""
    values: dict[str, bool | str] = {}
    payloads: dict[str, Any] = {}
    for key, ev in results.items():
        if _failed(ev):
            continue  # as PostHog does: a failed flag is left out, not reported as false
        values[key] = ev.variant if ev.variant is not None else ev.enabled
        payload = _payload(ev)
        if payload is not None and ev.enabled:
            payloads[key] = payload
    return DecideResponse(
        feature_flags=values,
        feature_flag_payloads=payloads,
        errors=any(_failed(ev) for ev in results.values()),
        requestId=str(uuid.uuid4()),
    )
