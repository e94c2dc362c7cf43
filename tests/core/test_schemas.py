"""Wire contracts: the exported JSON Schema files are current; the Structs behave as promised."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from schemas import api, events, persons
from schemas.export import CONTRACTS, DEFAULT_DIR, export, render, schema_of


def test_exported_schema_files_are_not_stale() -> None:
    # The contract is the schemas' structure, parsed; the files' formatting is checked below.
    rendered = {name: json.loads(body) for name, body in render().items()}
    on_disk = {p.name: json.loads(p.read_bytes()) for p in DEFAULT_DIR.glob("*.json")}
    assert sorted(on_disk) == sorted(rendered), "run `devflow schemas export`"
    stale = [name for name, schema in rendered.items() if on_disk[name] != schema]
    assert stale == [], f"stale: {stale}; run `devflow schemas export`"


class _Documented(msgspec.Struct):
    """First line.

    An indented second paragraph
        with a deeper line.
    """

    value: int


def test_descriptions_are_dedented_whatever_msgspec_does() -> None:
    schema = schema_of(_Documented)
    described = schema["$defs"]["_Documented"]["description"]
    assert described == "First line.\n\nAn indented second paragraph\n    with a deeper line."


def test_no_committed_description_keeps_docstring_indentation() -> None:
    def descriptions(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [v for k, v in node.items() if k == "description" and isinstance(v, str)]
            return found + [d for v in node.values() for d in descriptions(v)]
        if isinstance(node, list):
            return [d for item in node for d in descriptions(item)]
        return []

    for path in DEFAULT_DIR.glob("*.json"):
        for text in descriptions(json.loads(path.read_bytes())):
            assert text == inspect.cleandoc(text), path.name


def test_every_contract_is_exported_once() -> None:
    assert sorted(render()) == sorted(f"{name}.json" for name in CONTRACTS)


def test_rendering_is_deterministic() -> None:
    assert render() == render()


def test_rendered_files_are_json_schema_with_sorted_keys() -> None:
    for name, body in render().items():
        schema = json.loads(body)
        assert "$ref" in schema or "anyOf" in schema, name
        assert "$defs" in schema, name
        assert body.endswith(b"\n")
        assert json.dumps(schema, indent=2, sort_keys=True).encode() + b"\n" == body


def test_export_writes_what_render_returns(tmp_path: Path) -> None:
    written = export(tmp_path / "out")
    rendered = render()
    assert sorted(p.name for p in written) == sorted(rendered)
    for path in written:
        assert path.read_bytes() == rendered[path.name]


def test_event_batch_round_trips_with_its_tag() -> None:
    batch = events.EventBatch(
        project_id=1,
        received_at=datetime(2024, 1, 1, tzinfo=UTC),
        events=[
            events.CapturedEvent(
                uuid="0190b6e6-7a7c-7b1e-9c3a-1234567890ab",
                event="e",
                distinct_id="d",
                timestamp=datetime(2024, 1, 1, tzinfo=UTC),
                properties={"a": [1, {"b": None}]},
            )
        ],
    )
    raw = msgspec.json.encode(batch)
    assert json.loads(raw)["type"] == "events.batch"
    assert msgspec.json.decode(raw, type=events.EventBatch) == batch


def test_a_typo_in_an_event_is_an_error() -> None:
    raw = (
        b'{"type": "events.batch", "project_id": 1, "received_at": "2024-01-01T00:00:00Z", '
        b'"events": [{"uuid": "u", "event": "e", "distinct_id": "d", "timestamp": '
        b'"2024-01-01T00:00:00Z", "properties": {}, "propertys": {}}]}'
    )
    with pytest.raises(msgspec.ValidationError, match="propertys"):
        msgspec.json.decode(raw, type=events.EventBatch)


def test_persons_messages_are_dispatched_by_tag() -> None:
    decoder = msgspec.json.Decoder(persons.PersonsMessage)
    changed = persons.PersonChanged(1, "p", ["a", "b"], {"x": 1}, 3)
    merged = persons.PersonsMerged(1, "source", "target")
    assert decoder.decode(msgspec.json.encode(changed)) == changed
    assert decoder.decode(msgspec.json.encode(merged)) == merged
    with pytest.raises(msgspec.ValidationError):
        decoder.decode(b'{"type": "person.exploded", "project_id": 1}')


def test_problem_omits_what_it_does_not_say() -> None:
    problem = api.Problem(title="Bad", status=400)
    # An absent "type" means "about:blank" (RFC 9457).
    assert json.loads(msgspec.json.encode(problem)) == {"title": "Bad", "status": 400}
    error = api.FieldError("body", "empty")
    assert json.loads(msgspec.json.encode(error)) == {"field": "body", "reason": "empty"}
    assert json.loads(msgspec.json.encode(api.FieldError("event", "bad", 0)))["index"] == 0


def test_capture_accepted_is_posthogs_body() -> None:
    assert msgspec.json.encode(api.CaptureAccepted()) == b'{"status":1}'
