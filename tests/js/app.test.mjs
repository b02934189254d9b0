// Unit tests of the web app's pure modules (web/app): search, routes, rules,
// refusals in words, the enrollment link, months for the charts.
import assert from "node:assert/strict";
import { test } from "node:test";

import { explain, parseRoute } from "../../web/app/app.js";
import { lastMonths, monthly } from "../../web/app/model.js";
import { emailsError, phonesError, whenOf } from "../../web/app/rules.js";
import { readToken } from "../../web/app/screens/enroll.js";
import { filterContacts, matches, words } from "../../web/app/search.js";
import { ago, describeStatus } from "../../web/app/status.js";

/** A small seeded generator, so that a failure repeats. */
function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

const row = (name, extra = {}) => ({
  contact_id: name, name, emails: [], phones: [], org: null, tags: [], circle: "wider",
  cadence_days: null, archived: false, merged_into: null, ...extra,
});

test("search: any word's prefix, in any order, case and accents ignored", () => {
  const people = [row("José Muñoz"), row("Ada Lovelace", { tags: ["math"] }), row("Straße Öz", { org: "ACME-Works" })];
  const names = (query, filter = {}) => filterContacts(people, { query, ...filter }).map((r) => r.name);
  assert.deepEqual(names(""), ["José Muñoz", "Ada Lovelace", "Straße Öz"]);
  assert.deepEqual(names("jo mu"), ["José Muñoz"]);
  assert.deepEqual(names("MUÑ"), ["José Muñoz"]);
  assert.deepEqual(names("munoz jose"), ["José Muñoz"]);
  assert.deepEqual(names("love"), ["Ada Lovelace"]);
  assert.deepEqual(names("ovelace"), []); // a prefix, not a substring
  assert.deepEqual(names("strasse"), ["Straße Öz"]); // full case folding
  assert.deepEqual(names("oz"), ["Straße Öz"]);
  assert.deepEqual(names("works"), ["Straße Öz"]); // part of a hyphenated organisation
  assert.deepEqual(names("ma"), ["Ada Lovelace"]); // a tag
  assert.deepEqual(names("", { circle: "inner" }), []);
  assert.deepEqual(names("", { tag: "math" }), ["Ada Lovelace"]);
});

test("search: every prefix of every word of a name finds it, however it is cased", () => {
  const random = rng(16);
  const letters = "abcdeéèñöüßçøåæ";
  for (let i = 0; i < 300; i++) {
    const word = () => Array.from({ length: 1 + Math.floor(random() * 7) }, () => letters[Math.floor(random() * letters.length)]).join("");
    const name = `${word()} ${word()}`;
    const target = name.split(" ")[Math.floor(random() * 2)];
    const prefix = target.slice(0, 1 + Math.floor(random() * target.length));
    const query = random() < 0.5 ? prefix.toUpperCase() : prefix.normalize("NFD");
    assert.ok(matches(words(query), words(name)), `${query} should find ${name}`);
    assert.ok(!matches(words(`${prefix}zzz`), words(name)) || name.includes("zzz"));
  }
});

test("routes come from the fragment; an enrollment link carries its token", () => {
  assert.deepEqual(parseRoute(""), { name: "today", param: "" });
  assert.deepEqual(parseRoute("#/contacts"), { name: "contacts", param: "" });
  assert.deepEqual(parseRoute("#/contact/0190-ab"), { name: "contact", param: "0190-ab" });
  assert.deepEqual(parseRoute("#enroll=recip-enroll-xyz"), { name: "enroll", param: "recip-enroll-xyz" });
});

test("an enrollment link is read, or refused in words", () => {
  const origin = "https://r.example";
  assert.deepEqual(readToken("recip-enroll-abc", origin), { token: "recip-enroll-abc" });
  assert.deepEqual(readToken(" https://r.example/#enroll=recip-enroll-abc ", origin), { token: "recip-enroll-abc" });
  assert.match(readToken("", origin).error, /Paste/);
  assert.match(readToken("hello", origin).error, /not an enrollment link/);
  assert.match(readToken("https://r.example/#/today", origin).error, /no enrollment token/);
  assert.match(readToken("https://other.example/#enroll=recip-enroll-abc", origin).error, /another server/);
});

test("the CLI's refusals of emails, phones and dates", () => {
  assert.equal(emailsError(["a@b.org"]), null);
  assert.match(emailsError(["a@b.org", "nope"]), /“nope” is not an email/);
  assert.equal(phonesError(["+44 20 7946 0000", "1-800-FLOWERS"]), null);
  assert.match(phonesError(["n/a"]), /at least 3 digits/);
  const now = new Date(2026, 10, 20, 15, 0);
  assert.deepEqual(whenOf("", now), {});
  const noon = whenOf("2026-11-19", now);
  assert.equal(noon.occurredAt, new Date(2026, 10, 19, 12).getTime());
  assert.match(whenOf("2026-11-21", now).error, /future/);
  assert.match(whenOf("1800-01-01", now).error, /after 1900/);
  assert.deepEqual(whenOf("2026-11-20", new Date(2026, 10, 20, 9)), {}); // today, before noon: now
});

test("the library's schema refusals become sentences", () => {
  assert.equal(explain("AskMade.what must not be empty"), "Please fill in the what: it cannot be empty.");
  assert.equal(explain("GiveMade.weight must be an integer from 1 to 5"), "The weight must be a whole number from 1 to 5.");
  assert.equal(explain("something else"), "Nothing was saved: something else.");
});

test("the last twelve months end with the as-of month", () => {
  const day = Date.UTC(2026, 1, 15) / 86_400_000;
  const months = lastMonths(day);
  assert.equal(months.length, 12);
  assert.equal(months[0], "2025-03");
  assert.equal(months[11], "2026-02");
});

test("the sync status in words", () => {
  const status = { state: "idle", pending: 0, message: "", lastSync: null, live: true };
  const now = 1_800_000_000_000;
  assert.deepEqual(describeStatus(status, true, now - 5_000, now), { network: "Online", waiting: "all sent", last: "synced just now" });
  assert.deepEqual(describeStatus({ ...status, pending: 5 }, false, null, now), { network: "Offline", waiting: "5 events waiting", last: "never synced" });
  assert.equal(describeStatus({ ...status, pending: 1 }, true, null, now).waiting, "1 event waiting");
  assert.equal(ago(now - 600_000, now), "10 min ago");
});

test("months: each live touch once, in its local month; weights of gives and asks", () => {
  const at = (y, m, d) => Date.UTC(y, m - 1, d, 12);
  const events = [
    { event_id: "a", type: "GiveMade", weight: 3, occurred_at: at(2026, 2, 10), utc_offset: 0 },
    { event_id: "b", type: "IntroductionMade", weight: 2, occurred_at: at(2026, 2, 12), utc_offset: 0 },
    { event_id: "c", type: "AskMade", weight: 4, occurred_at: at(2026, 1, 31), utc_offset: 0 },
    // 23:30 UTC on Jan 31 is Feb 1 at UTC+1: its own offset decides its month
    { event_id: "d", type: "InteractionLogged", occurred_at: Date.UTC(2026, 0, 31, 23, 30), utc_offset: 60 },
    { event_id: "e", type: "GiveMade", weight: 5, occurred_at: at(2026, 2, 3), utc_offset: 0 }, // retracted
    { event_id: "f", type: "NoteAdded", occurred_at: at(2026, 2, 3), utc_offset: 0 }, // not a touch
    { event_id: "g", type: "AskMade", weight: 1, occurred_at: at(2025, 2, 27), utc_offset: 0 }, // too old
    { event_id: "h", type: "AskMade", weight: 1, occurred_at: at(2026, 2, 16), utc_offset: 0 }, // after as-of
  ];
  const views = {
    fold: { byId: new Map(events.map((e) => [e.event_id, e])), retractions: new Map([["e", []]]) },
  };
  const rows = monthly(/** @type {any} */ (views), Date.UTC(2026, 1, 15) / 86_400_000);
  assert.equal(rows.length, 12);
  assert.deepEqual(rows.at(-1), { month: "2026-02", give: 5, ask: 0, touches: 3 });
  assert.deepEqual(rows.at(-2), { month: "2026-01", give: 0, ask: 4, touches: 1 });
  assert.equal(rows.slice(0, -2).reduce((t, r) => t + r.touches, 0), 0);
});
