"""The conformance vectors of the browser client agree with the Python views.

The vectors (`tests/conformance/vectors`) are written by
`tests/conformance/generate.py` from the reference views; the JavaScript suite
(`node --test tests/js/`) and the browser test check the client against them.
Here the reference checks them back, so a change to the semantics that was not
regenerated fails at once (ADR 0090).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from core import redaction as core_redaction
from sync.protocol import event_from_wire
from tests.conformance import generate, redaction

VECTORS = sorted(generate.VECTORS.glob("*.json"))


def test_there_are_hand_written_and_generated_vectors() -> None:
    names = {p.name for p in VECTORS}
    assert {f"case-{name}.json" for name in generate.CASES} <= names
    assert sum(n.startswith("generated-") for n in names) == generate.GENERATED


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_a_vector_holds_what_the_python_views_compute(path: Path) -> None:
    data = msgspec.json.decode(path.read_bytes())
    events = generate.read_events(data)
    assert [msgspec.json.decode(generate.wire(e)) for e in events] == data["events"]
    fresh = msgspec.json.decode(msgspec.json.encode(generate.expected(events, data["as_of"])))
    assert fresh == data["expected"]


def test_hand_written_vectors_are_what_the_generator_writes() -> None:
    for name, (about, build) in generate.CASES.items():
        written = (generate.VECTORS / f"case-{name}.json").read_bytes()
        assert written == generate.document(name, about, build().events, generate.HAND_AS_OF)


def test_the_casefold_table_is_pythons() -> None:
    assert generate.CASEFOLD_JS.read_text(encoding="utf-8") == generate.casefold_module()


def test_plan_vectors_are_what_the_generator_writes() -> None:
    written = sorted(p.name for p in generate.PLAN_VECTORS.glob("*.json"))
    assert written == sorted(f"case-{name}.json" for name in generate.PLAN_CASES)
    for name, (about, build, as_of) in generate.PLAN_CASES.items():
        document = generate.document(name, about, build().events, as_of, generate.expected_plans)
        assert (generate.PLAN_VECTORS / f"case-{name}.json").read_bytes() == document


def test_the_personal_fields_of_the_browser_are_pythons() -> None:
    written = redaction.PERSONAL_JS.read_text(encoding="utf-8")
    assert written == redaction.personal_module()


def test_the_redaction_vectors_hold_what_python_computes() -> None:
    """Every recorded redaction and every scenario's end state, recomputed."""
    data = msgspec.json.decode(redaction.REDACTION_JSON.read_bytes())
    assert data["placeholder"] == core_redaction.PLACEHOLDER
    assert set(data["vectors"]) == {p.name for p in VECTORS}
    for path in VECTORS:
        events = generate.read_events(msgspec.json.decode(path.read_bytes()))
        want = {str(i): c for i, e in enumerate(events) if (c := redaction.change(e)) is not None}
        assert data["vectors"][path.name] == want, path.name
    for item in data["events"]:
        event = event_from_wire(msgspec.json.encode(item["event"]), "json")
        assert redaction.change(event) == item["change"]
    for scenario in data["scenarios"]:
        batches = [
            [event_from_wire(msgspec.json.encode(e), "json") for e in batch]
            for batch in scenario["batches"]
        ]
        assert redaction.replay(batches) == scenario  # type: ignore[arg-type]
