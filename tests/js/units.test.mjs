// Unit tests of the client's pure modules: wire JSON, text, HLC, ids, schemas, SSE.
import assert from "node:assert/strict";
import { test } from "node:test";

import { checkEnvelope, InvalidEvent, isKnown, payload } from "../../web/client/events.js";
import { pack, physicalMs, receive, tick, MAX_DRIFT_MS } from "../../web/client/hlc.js";
import { newId } from "../../web/client/ids.js";
import { parseFrames } from "../../web/client/stream.js";
import { casefold, compare, head, repr } from "../../web/client/text.js";
import { dateOf, dayOf } from "../../web/client/views.js";
import { parseExact, parseWithEvents, stringify } from "../../web/client/wire.js";

// Node 18 (Debian's) has Web Crypto only as a module; browsers and Node 20 have it global.
globalThis.crypto ??= /** @type {any} */ ((await import("node:crypto")).webcrypto);

/** A small seeded generator, so that a failure repeats. */
function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

test("hlc values beyond 2^53 come back exact, on the fast path and the exact one", () => {
  const hlc = (1_800_000_000_123n << 16n) | 65_535n;
  const event = `{"type":"X","event_id":"a","device_id":"d","seq":1,"hlc":${hlc},"note":"\\"hlc\\":1"}`;
  const fast = parseWithEvents(`{"events":[${event}],"cursor":3}`);
  assert.equal(fast.events[0].hlc, hlc);
  // whitespace and a nested "hlc" defeat the fast path: the exact one still gets it right
  const nested = `{"events": [ {"hlc" : ${hlc}, "x": {"hlc":${hlc + 1n}}}, {"hlc":5} ]}`;
  const slow = parseWithEvents(nested);
  assert.equal(slow.events[0].hlc, hlc);
  assert.equal(slow.events[0].x.hlc, hlc + 1n);
  assert.equal(slow.events[1].hlc, 5n);
});

test("the exact parser agrees with JSON.parse on random documents", () => {
  const random = rng(7);
  const leaf = () => {
    const r = random();
    if (r < 0.2) return Math.floor(random() * 2 ** 40) - 2 ** 39;
    if (r < 0.3) return random() * 1e6;
    if (r < 0.5) return String.fromCodePoint(...Array.from({ length: 5 }, () => Math.floor(random() * 0xd7ff)));
    if (r < 0.6) return 'q"\\\n\t\u2028';
    return [true, false, null][Math.floor(random() * 3)];
  };
  const tree = (depth) => {
    if (depth > 3 || random() < 0.3) return leaf();
    if (random() < 0.5) return Array.from({ length: Math.floor(random() * 4) }, () => tree(depth + 1));
    return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, (_, i) => [`k${i}"`, tree(depth + 1)]));
  };
  for (let i = 0; i < 300; i++) {
    const value = tree(0);
    const text = JSON.stringify(value, null, i % 2 ? 1 : undefined);
    assert.deepEqual(parseExact(text), JSON.parse(text));
  }
  assert.throws(() => parseExact("{"), SyntaxError);
  assert.throws(() => parseExact("[1,]"), SyntaxError);
  assert.throws(() => parseExact("1 2"), SyntaxError);
});

test("stringify writes BigInts as integers and round-trips", () => {
  const value = { hlc: 123456789012345678901n, a: [1, "x", null, { b: true }], skip: undefined };
  const text = stringify(value);
  assert.equal(text, '{"hlc":123456789012345678901,"a":[1,"x",null,{"b":true}]}');
  assert.deepEqual(parseExact(text), { hlc: 123456789012345678901n, a: [1, "x", null, { b: true }] });
});

test("the clock ticks past every timestamp and bounds what it receives", () => {
  let last = 0n;
  const wall = 1_800_000_000_000;
  for (let i = 0; i < 70_000; i++) {
    const next = tick(last, wall); // a frozen wall clock: the logical part counts up, then spills
    assert.ok(next > last);
    last = next;
  }
  assert.ok(physicalMs(last) === wall + 1);
  assert.equal(tick(last, wall + 10), pack(wall + 10));
  const far = pack(wall + 10 * MAX_DRIFT_MS);
  assert.equal(receive(0n, far, wall), pack(wall + MAX_DRIFT_MS, 65535));
  assert.equal(receive(far + 1n, 5n, wall), far + 1n);
});

test("ids are UUIDv7, time-ordered and unique", () => {
  const ids = Array.from({ length: 1000 }, (_, i) => newId(1_800_000_000_000 + i));
  assert.equal(new Set(ids).size, 1000);
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual([...ids].sort(), ids);
});

test("payloads fill defaults and refuse what the server would refuse", () => {
  assert.deepEqual(payload("GiveMade", { contact_id: "c", what: "w" }), {
    contact_id: "c", what: "w", kind: "other", weight: 1,
  });
  assert.deepEqual(payload("ContactEdited", { contact_id: "c", org: null }), { contact_id: "c", org: null });
  const refused = [
    ["GiveMade", { contact_id: "c", what: "w", weight: 6 }],
    ["GiveMade", { contact_id: "c", what: "" }],
    ["GiveMade", { contact_id: "c", what: "w", colour: "red" }],
    ["ContactAdded", { name: "x".repeat(501) }],
    ["ContactAdded", { name: "n", circle: "outer" }],
    ["ContactAdded", { name: "n", emails: ["ok", ""] }],
    ["IntroductionMade", { contact_ids: ["a"] }],
    ["IntroductionMade", { contact_ids: ["a", "a"] }],
    ["ContactsMerged", { survivor_id: "a", absorbed_id: "a" }],
    ["InteractionLogged", { contact_ids: [] }],
    ["NoteAdded", { contact_id: "c" }],
    ["Unknown", {}],
  ];
  for (const [type, fields] of refused) assert.throws(() => payload(type, fields), InvalidEvent, type);
  assert.throws(() => payload("ContactsMerged", { survivor_id: "a", absorbed_id: "a" }), /absorbed_id/);
  assert.deepEqual(payload("ContactsMerged", { survivor_id: "a", absorbed_id: "b" }), {
    survivor_id: "a", absorbed_id: "b",
  });
  // limits count code points, as msgspec does
  assert.doesNotThrow(() => payload("ContactAdded", { name: "😀".repeat(500) }));
  assert.throws(() => checkEnvelope({ type: "X", event_id: "e", device_id: "d", seq: 1, hlc: 1, occurred_at: 0, utc_offset: 0, v: 1 }), InvalidEvent);
  assert.ok(isKnown({ type: "GiveMade", v: 1 }));
  assert.ok(!isKnown({ type: "GiveMade", v: 2 }) && !isKnown({ type: "MoodLogged", v: 1 }));
});

test("text: case folding, code point order, Python's repr", () => {
  assert.equal(casefold("Straße"), "strasse");
  assert.equal(casefold("ΣΊΣΥΦΟΣ ς"), "σίσυφοσ σ");
  assert.equal(compare("\uffff", "😀"), -1); // UTF-16 units would say the opposite
  assert.ok("\uffff" > "😀");
  assert.equal(compare("a", "ab"), -1);
  assert.equal(head("😀abcdefghij", 8), "😀abcdefg");
  assert.equal(repr("it's"), `"it's"`);
  assert.equal(repr(`both ' and "`), `'both \\' and "'`);
  assert.equal(repr("tab\t\x07\u00a0\u200b😀é"), "'tab\\t\\x07\\xa0\\u200b😀é'");
  assert.deepEqual([repr(["a"]), repr([]), repr(["a", "b"]), repr(null), repr(7)], [
    "('a',)", "()", "('a', 'b')", "None", "7",
  ]);
});

test("days: ISO dates both ways, bad dates refused", () => {
  assert.equal(dayOf("1970-01-02"), 1);
  assert.equal(dateOf(dayOf("2026-12-04")), "2026-12-04");
  assert.equal(dateOf(-1), "1969-12-31");
  for (const bad of ["2026-02-30", "26-1-1", "soon"]) assert.throws(() => dayOf(bad), RangeError);
});

test("SSE frames: pokes, comments, a frame split across reads", () => {
  const seen = [];
  let rest = parseFrames("retry: 2000\n\n: heartbeat\n\nid: 4\nevent: poke\ndata: {\"cur", (e) => seen.push(e));
  rest = parseFrames(rest + "sor\": 4}\n\n", (e) => seen.push(e));
  assert.equal(rest, "");
  assert.deepEqual(seen, [{ event: "poke", data: '{"cursor": 4}', id: "4" }]);
});

test("a new event recomputes only the summaries of the groups it touches", async () => {
  const { Views } = await import("../../web/client/views.js");
  const views = new Views();
  const env = (n, extra) => ({
    event_id: `e${n}`, device_id: "d", seq: n, hlc: BigInt(n) << 16n,
    occurred_at: 1_700_000_000_000 + n * 86_400_000, utc_offset: 0, v: 1, ...extra,
  });
  const people = Array.from({ length: 50 }, (_, i) =>
    env(i + 1, { type: "ContactAdded", name: `P${i}`, emails: [], phones: [], org: null, tags: [], circle: "close", cadence_days: null, source: null }));
  views.applyAll(people);
  const before = new Map(views.summaries().map((s) => [s.contact_id, s]));
  views.apply(env(100, { type: "GiveMade", contact_id: "e7", what: "w", kind: "gift", weight: 3 }));
  const after = views.summaries();
  const changed = after.filter((s) => s !== before.get(s.contact_id)).map((s) => s.contact_id);
  assert.deepEqual(changed, ["e7"]);
  assert.equal(after.find((s) => s.contact_id === "e7").give_weight, 3);
  // a merge changes groups: every summary is recomputed (and the absorbed row goes)
  views.apply(env(101, { type: "ContactsMerged", survivor_id: "e1", absorbed_id: "e7" }));
  assert.equal(views.summaries().length, 49);
  assert.equal(views.summaries().find((s) => s.contact_id === "e1").give_weight, 3);
});
