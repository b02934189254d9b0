// Forgetting a person in the browser client against the Python reference
// (tests/conformance/redaction.json, written by tests/conformance/generate.py):
// every event of every view vector and hypothesis-drawn events of every type
// redact to the form Python computes, and a log that ingests a history and its
// forgets in batches, in any order, ends as a Python replica ends.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { PERSONAL, PLACEHOLDER } from "../../web/client/personal.js";
import { incoming, redact, relog } from "../../web/client/redaction.js";
import { parseExact } from "../../web/client/wire.js";

const read = (/** @type {string} */ path) => parseExact(readFileSync(new URL(path, import.meta.url), "utf-8"));
const DOC = read("../conformance/redaction.json");

/** An event's wire form with a change applied (keys set, keys dropped). */
function changed(event, change) {
  if (change === null || change === undefined) return event;
  const out = { ...event, ...change.set };
  for (const key of change.drop) delete out[key];
  return out;
}

test("the placeholder and every type of the reference are known", () => {
  assert.equal(PLACEHOLDER, DOC.placeholder);
  assert.ok(PERSONAL.ContactAdded.erase.name === PLACEHOLDER);
  assert.deepEqual(PERSONAL.ContactForgotten, { v: 1, erase: {}, unset: [], nested: {} });
  assert.deepEqual(Object.keys(PERSONAL.ContactDetailsSet.nested), ["met"]);
});

test("every event of every view vector redacts as in Python", () => {
  let changes = 0;
  for (const [name, byIndex] of Object.entries(DOC.vectors)) {
    const events = read(`../conformance/vectors/${name}`).events;
    events.forEach((event, i) => {
      const want = changed(event, byIndex[String(i)]);
      const got = redact(event);
      assert.deepEqual(got, want, `${name} event ${i}`);
      assert.deepEqual(redact(got), got, `${name} event ${i}: idempotent`);
      if (byIndex[String(i)]) changes += 1;
      else assert.equal(got, event, `${name} event ${i}: kept as the same object`);
    });
  }
  assert.ok(changes > 100, "the vectors hold personal fields to erase");
});

test("hypothesis-drawn events of every type redact as in Python", () => {
  const types = new Set();
  for (const { event, change } of DOC.events) {
    const before = structuredClone(event);
    assert.deepEqual(redact(event), changed(event, change), JSON.stringify(event, (_, v) => (typeof v === "bigint" ? `${v}` : v)));
    assert.deepEqual(event, before, "the input is not changed");
    types.add(event.type);
  }
  assert.deepEqual([...types].sort(), Object.keys(PERSONAL).sort());
});

/** Ingest batches in turn as the browser's store does; the log and the ids forgotten. */
function replay(batches) {
  const log = [];
  let forgotten = new Set();
  for (const batch of batches) {
    const stored = incoming(batch, forgotten);
    log.push(...stored.events);
    forgotten = stored.forgotten;
    if (stored.relog.size) {
      const { changed: rewritten, ids } = relog(log, stored.relog);
      for (const [i, e] of rewritten) log[i] = e;
      for (const id of ids) forgotten.add(id);
    }
  }
  return { log, forgotten: [...forgotten].sort() };
}

test("a log ingesting a history and its forgets ends as a Python replica", () => {
  let placeholders = 0;
  for (const [n, scenario] of DOC.scenarios.entries()) {
    const { log, forgotten } = replay(scenario.batches);
    assert.deepEqual(log, scenario.log, `scenario ${n}`);
    assert.deepEqual(forgotten, scenario.forgotten, `scenario ${n}: forgotten ids`);
    placeholders += log.filter((e) => e.name === PLACEHOLDER || e.what === PLACEHOLDER).length;
  }
  assert.ok(DOC.scenarios.length >= 20 && placeholders > 20, "the scenarios forget someone");
});

test("nothing is forgotten while no one is", () => {
  const event = { type: "NoteAdded", event_id: "n", device_id: "d", seq: 1, hlc: 1n, occurred_at: 0, utc_offset: 0, v: 1, contact_id: "c", text: "hi" };
  const stored = incoming([event], new Set());
  assert.equal(stored.events[0], event);
  assert.equal(stored.relog.size, 0);
  const late = incoming([event], new Set(["c"]));
  assert.equal(late.events[0].text, PLACEHOLDER);
  assert.deepEqual([...late.relog].sort(), ["c", "n"]);
});
