// The JavaScript views against every conformance vector (generated from the
// Python reference by tests/conformance/generate.py): in the vector's order,
// reversed, with every event applied twice, and read between events (so that
// the incremental caches are exercised, not only a fold from scratch).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";

import { Views } from "../../web/client/views.js";
import { parseWithEvents } from "../../web/client/wire.js";
import { DIR, foldedTwoWays, plain } from "./vectors.mjs";

const FILES = readdirSync(DIR).filter((f) => f.endsWith(".json")).sort();

/** A seeded shuffle (Fisher-Yates), so that a failing order repeats. */
function shuffled(items, seed) {
  const out = [...items];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function check(views, vector) {
  const want = vector.expected;
  assert.deepEqual(plain(views.contacts({ all: true })), want.contacts, "contacts");
  for (const day of vector.as_of) {
    const at = want.as_of[day];
    assert.deepEqual(plain(views.ledger(day)), at.ledger, `ledger as of ${day}`);
    assert.deepEqual(plain(views.cold(day)), at.cold, `cold as of ${day}`);
    assert.deepEqual(plain(views.cold(day, { all: true })), at.cold_all, `cold --all as of ${day}`);
    assert.deepEqual(plain(views.stats(day)), at.stats, `stats as of ${day}`);
  }
  for (const [id, entries] of Object.entries(want.timelines)) {
    assert.deepEqual(plain(views.timeline(id)), entries, `timeline of ${id}`);
  }
}

test("there are vectors: hand-written cases and generated histories", () => {
  assert.ok(FILES.some((f) => f.startsWith("case-")));
  assert.ok(FILES.filter((f) => f.startsWith("generated-")).length >= 50);
});

for (const file of FILES) {
  test(`vector ${file}`, () => {
    const vector = parseWithEvents(readFileSync(new URL(file, DIR), "utf8"));
    const events = vector.events;
    assert.ok(events.every((e) => typeof e.hlc === "bigint"));

    for (const views of foldedTwoWays(events)) check(views, vector);

    for (const seed of [1, 2, 3]) {
      const anyOrder = new Views();
      for (const e of shuffled(events, seed + file.length)) anyOrder.apply(e);
      check(anyOrder, vector);
    }

    const stepwise = new Views();
    const day = vector.as_of[vector.as_of.length - 1];
    for (const [i, e] of events.entries()) {
      stepwise.apply(e);
      if (i % 3 === 0) {
        stepwise.ledger(day);
        stepwise.cold(day, { all: true });
      }
    }
    check(stepwise, vector);

    const batches = new Views();
    for (let i = 0; i < events.length; i += 4) {
      batches.applyAll(events.slice(i, i + 4)); // with summaries cached: incremental
      batches.stats(day);
    }
    check(batches, vector);
  });
}
