"""Properties of forgetting (ADR 0130): every replica ends with the same redacted bytes.

Whatever order a replica learns of a history and of a forget (before, after, in
the middle of a batch), its stored rows end identical to every other replica's,
no event about a forgotten contact keeps a personal field, and every other event
keeps its exact bytes.
"""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import codec, redaction
from core.events import ContactAdded, ContactForgotten, Event
from core.log import EventLog, row_of
from core.store import open_store
from tests.event_strategies import any_event
from tests.strategies import arrivals, histories


@given(any_event)
def test_redaction_is_idempotent_and_valid(event: Event) -> None:
    once = redaction.redact(event)
    assert redaction.redact(once) == once
    codec.check(type(once).__name__, codec.encode(once))  # still a valid event
    kept = {
        f for f in event.__struct_fields__ if f not in dict(redaction.personal_fields(type(event)))
    }
    assert all(getattr(once, f) == getattr(event, f) for f in kept)


def rows(log: EventLog) -> set[tuple[str, int, str, bytes]]:
    return {
        (str(n.originator_id), n.originator_version, n.topic, n.state)
        for n in log.store.notifications(0, 10**6)
    }


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), history=histories(max_steps=20))
def test_replicas_converge_on_the_same_redacted_rows(
    tmp_path: Path, data: st.DataObject, history: list[Event]
) -> None:
    contacts = [e.event_id for e in history if isinstance(e, ContactAdded)]
    target = data.draw(st.sampled_from(contacts))
    forget = ContactForgotten(
        event_id=str(uuid4()),
        device_id="forgetter",
        seq=1,
        hlc=1,
        occurred_at=0,
        contact_ids=(target,),
    )
    everything = [*history, forget]
    logs = []
    for _ in range(2):
        order = data.draw(arrivals(everything))
        cut = data.draw(st.integers(0, len(order)))
        log = EventLog(open_store(str(tmp_path / f"{uuid4().hex}.db")))
        log.ingest(order[:cut])
        log.ingest(order[cut:])
        logs.append(log)
    first, second = (rows(log) for log in logs)
    assert first == second
    ids = redaction.forgotten_ids(history, {target})
    originals = {(r[0], r[1]): r for r in map(row_of, everything)}
    for device_id, seq, topic, state in first:
        event = codec.decode(topic, state)
        assert isinstance(event, Event)
        if redaction.concerns(event, ids):
            assert redaction.redact(event) == event
        else:
            assert state == originals[(device_id, seq)][3], (event, target, ids)
    for log in logs:
        log.store.close()
