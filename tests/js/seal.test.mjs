// web/client/seal.js against the sealing vectors written from the Python
// reference by tests/conformance/seal_vectors.py (ADR 0135): the same key id,
// the same phrases read, every Python-sealed event opened to the same event,
// every forgery refused, and JS sealing byte for byte as Python's.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  decodePhrase,
  encodePhrase,
  fromBase64,
  OwnerKey,
  PhraseError,
  refuseSealed,
  SealError,
  toBase64,
} from "../../web/client/seal.js";
import { isKnown, payload } from "../../web/client/events.js";
import { parseExact, stringify } from "../../web/client/wire.js";

const DATA = parseExact(readFileSync(new URL("../conformance/sealed.json", import.meta.url), "utf8"));

/** hlc as a BigInt however large (parseExact gives small ones as numbers). */
function withHlc(event) {
  return { ...event, hlc: BigInt(event.hlc) };
}

const hex = (text) => Uint8Array.from(text.match(/../g), (b) => parseInt(b, 16));
const KEY = hex(DATA.key);
const key = await OwnerKey.fromBytes(KEY);
const other = await OwnerKey.fromBytes(hex(DATA.other_key));

test("the key id is Python's", () => {
  assert.equal(key.keyId, DATA.key_id);
  assert.equal(other.keyId, DATA.other_key_id);
});

test("the phrase of a key is Python's, and every spelling of it reads back the key", async () => {
  assert.equal(await encodePhrase(KEY), DATA.phrase);
  assert.equal(await encodePhrase(hex(DATA.other_key)), DATA.other_phrase);
  for (const phrase of [DATA.phrase, ...DATA.phrases]) {
    assert.deepEqual(await decodePhrase(phrase), KEY, phrase);
  }
  assert.equal((await OwnerKey.fromPhrase(DATA.other_phrase)).keyId, DATA.other_key_id);
});

test("a typo is told from a malformed phrase, and both are refused", async () => {
  for (const typo of DATA.typos) {
    await assert.rejects(decodePhrase(typo), (e) => e instanceof PhraseError && e.kind === "typo" && /typo/.test(e.message));
  }
  for (const bad of DATA.malformed) {
    await assert.rejects(decodePhrase(bad), (e) => e instanceof PhraseError && e.kind === "format");
  }
});

test("random keys go to a phrase and back", async () => {
  for (let i = 0; i < 50; i++) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const phrase = await encodePhrase(bytes);
    assert.match(phrase, /^([0-9A-HJKMNP-TV-Z]{4}-){13}[0-9A-HJKMNP-TV-Z]{4}$/);
    assert.deepEqual(await decodePhrase(phrase), bytes);
  }
});

test("every event Python sealed opens to the same event", async () => {
  assert.ok(DATA.events.length > 50);
  for (const { event, sealed } of DATA.events) {
    const opened = await key.open(withHlc(sealed));
    assert.deepEqual(opened, withHlc(event), sealed.event_id);
  }
});

test("sealing Python's JSON gives Python's sealed event, byte for byte", async () => {
  const utf8 = new TextEncoder();
  for (const { plain, sealed } of DATA.events) {
    const mine = await key.sealPlain(utf8.encode(plain), withHlc(sealed));
    assert.equal(stringify(mine), stringify(withHlc(sealed)), sealed.event_id);
  }
});

test("sealing an event whose JSON is Python's gives Python's bytes; every event round-trips", async () => {
  let identical = 0;
  for (const { event, plain, sealed } of DATA.events) {
    const mine = await key.seal(withHlc(event));
    if (stringify(withHlc(event)) === plain) {
      identical += 1;
      assert.equal(mine.box, sealed.box, event.event_id);
    }
    assert.deepEqual(await key.open(mine), withHlc(event));
    assert.equal(mine.occurred_at, sealed.occurred_at, "the HLC's wall time, clamped");
  }
  assert.ok(identical > DATA.events.length / 2, `only ${identical} events have Python's JSON`);
});

test("every forgery is refused", async () => {
  assert.ok(DATA.forged.length >= 10);
  for (const { why, sealed } of DATA.forged) {
    await assert.rejects(key.open(withHlc(sealed)), SealError, why);
  }
});

test("a page with one event that does not open is refused whole", async () => {
  const page = [...DATA.events.slice(0, 3).map((c) => withHlc(c.sealed)), withHlc(DATA.forged[0].sealed)];
  await assert.rejects(key.openAll(page), SealError);
  await assert.rejects(key.openAll([withHlc(DATA.events[0].event)]), /plain text/);
  assert.equal((await key.openAll(page.slice(0, 3))).length, 3);
});

test("a device without a key refuses sealed events and keeps plain ones", () => {
  const plain = DATA.events.map((c) => withHlc(c.event));
  assert.equal(refuseSealed(plain), plain);
  assert.throws(() => refuseSealed([withHlc(DATA.events[0].sealed)]), /recovery phrase/);
});

test("sealing refuses an event sealed already", async () => {
  await assert.rejects(key.seal(withHlc(DATA.events[0].sealed)), SealError);
});

test("base64 round-trips every byte value and long boxes", () => {
  const bytes = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7) & 255);
  assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
  assert.equal(toBase64(Uint8Array.of(0xfb, 0xff)), Buffer.from([0xfb, 0xff]).toString("base64"));
});

test("the enroll screen says what is wrong with a phrase, in words", async () => {
  const { phraseProblem } = await import("../../web/app/screens/enroll.js");
  const { Refusal } = await import("../../web/client/sync.js");
  const typo = await decodePhrase(DATA.typos[0]).catch((e) => e);
  assert.match(phraseProblem(typo), /typo.*Nothing was sent/);
  const short = await decodePhrase(DATA.malformed[0]).catch((e) => e);
  assert.match(phraseProblem(short), /56 characters.*not 55/);
  assert.match(phraseProblem(new Refusal(403, "wrong_phrase", "x")), /not this owner’s: nothing was stored/);
  assert.match(phraseProblem(new Refusal(409, "phrase_needed", "x")), /end-to-end encrypted: enter its recovery phrase/);
  assert.match(phraseProblem(new Refusal(409, "not_end_to_end", "x")), /leave the recovery phrase empty/);
  assert.equal(phraseProblem(new Refusal(404, "unknown_token", "x")), null);
  const wrong = new PhraseError("wrong", "This recovery phrase is not the owner’s current key: nothing was changed.");
  assert.match(phraseProblem(wrong), /not the owner’s current key.*rotating device/);
  assert.equal(phraseProblem(new Error("network")), null);
});

test("a flipped bit anywhere in a box, or in the envelope it is bound to, is refused", async () => {
  const { sealed } = DATA.events[5];
  const box = fromBase64(sealed.box);
  let s = 12345;
  for (let i = 0; i < 200; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const altered = box.slice();
    altered[s % altered.length] ^= 1 << (s >>> 29);
    await assert.rejects(key.open({ ...withHlc(sealed), box: toBase64(altered) }), SealError);
  }
  for (const [field, value] of [["seq", sealed.seq + 1], ["event_id", `${sealed.event_id}x`], ["device_id", "x"], ["hlc", BigInt(sealed.hlc) ^ 1n]]) {
    await assert.rejects(key.open({ ...withHlc(sealed), [field]: value }), SealError, field);
  }
});

test("after a rotation the new key seals, the old one still opens, a third is refused", async () => {
  const rotated = key.rotatedTo(other);
  assert.equal(rotated.keyId, other.keyId);
  const { event, sealed } = DATA.events[2];
  assert.deepEqual(await rotated.open(withHlc(sealed)), withHlc(event), "sealed under the old key");
  const mine = await rotated.seal(withHlc(event));
  assert.equal(mine.key_id, other.keyId);
  assert.deepEqual(await other.open(mine), withHlc(event));
  const kept = OwnerKey.fromStored(rotated.stored());
  assert.deepEqual(await kept.open(withHlc(sealed)), withHlc(event), "the old key survives storing");
  await assert.rejects(key.open(mine), /rotated on another device, enter its new recovery phrase/);
  const third = await OwnerKey.fromBytes(new Uint8Array(32));
  await assert.rejects(third.rotatedTo(other).open(withHlc(sealed)), SealError);
});

test("an event recorded here has Python's JSON, so both seal it to the same bytes", async () => {
  // store.js builds an event as the envelope, then `payload` in schema order
  const ENVELOPE = ["type", "event_id", "device_id", "seq", "hlc", "occurred_at", "utc_offset", "v"];
  let checked = 0;
  for (const { event, plain, sealed } of DATA.events) {
    if (!isKnown(event)) continue; // unknown types and newer versions: relayed, never recorded here
    const fields = Object.fromEntries(Object.entries(event).filter(([k]) => !ENVELOPE.includes(k)));
    const envelope = Object.fromEntries(ENVELOPE.map((k) => [k, k === "hlc" ? BigInt(event.hlc) : event[k]]));
    const recorded = { ...envelope, ...payload(event.type, fields) };
    assert.equal(stringify(recorded), plain, event.event_id);
    assert.equal((await key.seal(recorded)).box, sealed.box);
    checked += 1;
  }
  assert.ok(checked > 60, `${checked}`);
});
