// The JavaScript plan for today against the Python rule (scoring/plan.py): every
// conformance vector carries the Python plan of each of its as-of days, at a few
// limits; the plan vectors (vectors/plan/) hold the cases only the plan reads
// (birthdays and occasions). Folded in the vector's order, reversed and shuffled.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { dayOf, DEFAULT_LIMIT, NUDGE_KINDS, plan } from "../../web/client/index.js";
import { roundTo } from "../../web/client/plan.js";
import { Views } from "../../web/client/views.js";
import { parseWithEvents } from "../../web/client/wire.js";
import { DIR, foldedTwoWays, jsonIn, PLAN_DIR, plain } from "./vectors.mjs";

const FILES = [...jsonIn(DIR), ...jsonIn(PLAN_DIR)];

/** The plans of `views` (its cached histories) against the vector's, and a fresh fold's. */
function check(views, vector) {
  for (const day of vector.as_of) {
    for (const want of vector.expected.as_of[day].plans) {
      const options = { limit: want.limit };
      assert.deepEqual(plain(views.plan(day, options)), want, `plan as of ${day}, limit ${want.limit}`);
      assert.deepEqual(plain(plan(views.fold, dayOf(day), options)), want, `fresh plan as of ${day}`);
    }
  }
}

test("the vectors hold plans of every kind, cut by the limit and by the cap per kind", () => {
  const kinds = new Set();
  let cut = 0;
  let capped = 0;
  for (const url of FILES) {
    const vector = JSON.parse(readFileSync(url, "utf8"));
    for (const at of Object.values(vector.expected.as_of)) {
      for (const p of at.plans) {
        for (const item of p.items) kinds.add(item.kind);
        if (p.items.length === p.limit && p.candidates > p.limit) cut += 1;
        if (p.items.length < p.limit && p.items.length < p.candidates) capped += 1;
      }
    }
  }
  assert.deepEqual([...kinds].sort(), [...NUDGE_KINDS].sort());
  assert.ok(cut > 0 && capped > 0, `cut ${cut}, capped ${capped}`);
  assert.equal(DEFAULT_LIMIT, 5);
});

test("urgencies are rounded as Python's round(x, 6): the exact value, ties to even", () => {
  assert.equal(roundTo(1.0078125, 6), 1.007812); // an exact tie: to even
  assert.equal(roundTo(1.0234375, 6), 1.023438);
  assert.equal(roundTo(2.4150374992788437, 6), 2.415037);
  assert.equal(roundTo(0.8111111111111111, 6), 0.811111);
  assert.equal(roundTo(1.0000005, 6), 1.000001); // as a double, a little above the tie
  assert.equal(roundTo(-1.5, 0), -2);
  assert.equal(roundTo(2.5, 0), 2);
});

test("a limit below 1 is refused", () => {
  assert.throws(() => plan(new Views().fold, 0, { limit: 0 }), RangeError);
});

for (const url of FILES) {
  const file = url.pathname.split("/vectors/")[1];
  test(`plan of vector ${file}`, () => {
    const vector = parseWithEvents(readFileSync(url, "utf8"));
    const events = vector.events;

    for (const views of foldedTwoWays(events)) check(views, vector);

    // one by one in another order, the plan read between events: the cached
    // histories of the groups an event changes must be dropped, and only those
    const day = vector.as_of[vector.as_of.length - 1];
    const byId = [...events].sort((a, b) => (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : a.seq - b.seq));
    for (const order of [events, byId, [...byId].reverse()]) {
      const stepwise = new Views();
      for (const [i, e] of order.entries()) {
        stepwise.apply(e);
        if (i % 2 === 0) stepwise.plan(day);
      }
      check(stepwise, vector);
    }
  });
}

// Each event arriving last, after the plan was read: the groups it concerns (and
// only those need) get their cached histories dropped, whatever the event is.
for (const url of FILES) {
  const file = url.pathname.split("/vectors/")[1];
  test(`plan of vector ${file}: every event arriving last`, () => {
    const { events, as_of: days } = parseWithEvents(readFileSync(url, "utf8"));
    for (const day of days) {
      for (let i = 0; i < events.length; i++) {
        const views = new Views();
        views.applyAll(events.filter((_, j) => j !== i));
        views.plan(day);
        views.apply(events[i]);
        assert.deepEqual(plain(views.plan(day)), plain(plan(views.fold, dayOf(day))), `${events[i].type} last, ${day}`);
      }
    }
  });
}
