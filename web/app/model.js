// What the screens read beyond the library's views: open asks, one contact's
// whole picture, the tags in use, and month-by-month series for the charts.
// Pure functions of the device's Views (its fold), so they are as current as
// the views are and never touch the network.

import { coldRow, dateOf, ledgerRow } from "../client/views.js";
import { isActive, localDay } from "../client/fold.js";
import { casefold, compare } from "../client/text.js";

/** @typedef {import("../client/views.js").Views} Views */
/** @typedef {import("../client/events.js").Event} Event */

/**
 * @typedef {{ask_id: string, contact_id: string, name: string, what: string,
 *   weight: number, date: string, day: number}} OpenAsk
 */

/**
 * Asks with no outcome yet (not retracted, about an active contact), oldest first.
 * @param {Views} views
 * @param {string} [contactId] only this contact's group
 * @returns {OpenAsk[]}
 */
export function openAsks(views, contactId) {
  const fold = views.fold;
  const group = contactId === undefined ? null : fold.survivor(contactId);
  /** @type {OpenAsk[]} */
  const out = [];
  for (const [askId, ask] of fold.asks) {
    if (fold.retractions.has(askId) || fold.outcome(askId) !== null) continue;
    if (fold.byId.get(askId) !== ask) continue; // an inert twin of another event
    const survivor = fold.survivor(/** @type {string} */ (ask.contact_id));
    if (group !== null && survivor !== group) continue;
    const contact = fold.contact(survivor);
    if (!contact || !isActive(contact)) continue;
    const day = localDay(ask);
    out.push({
      ask_id: askId,
      contact_id: survivor,
      name: contact.name,
      what: /** @type {string} */ (ask.what),
      weight: /** @type {number} */ (ask.weight),
      date: dateOf(day) ?? "",
      day,
    });
  }
  return out.sort((a, b) => a.day - b.day || compare(a.ask_id, b.ask_id));
}

/**
 * Everything the contact screen shows about one contact (null: no such contact).
 * @param {Views} views @param {string} contactId @param {number} asOf
 */
export function contactDetail(views, contactId, asOf) {
  const fold = views.fold;
  const contact = fold.contact(contactId);
  if (!contact) return null;
  const survivor = fold.contact(contact.survivor) ?? contact;
  const summary = views.summaries().find((s) => s.contact_id === survivor.id) ?? null;
  return {
    contact: survivor,
    mergedFrom: contact.id !== survivor.id ? contact : null,
    ledger: summary ? ledgerRow(summary, asOf) : null,
    cold: summary ? coldRow(summary, asOf) : null,
    timeline: views.timeline(survivor.id),
  };
}

/**
 * The ids a forget of a contact names: the contact and every contact merged
 * into it (core.commands.forget_contact).
 * @param {Views} views @param {string} contactId a survivor
 * @returns {string[]}
 */
export function forgetIds(views, contactId) {
  const fold = views.fold;
  const ids = [...fold.added.keys()].filter((id) => fold.survivor(id) === contactId);
  return [...new Set([contactId, ...ids])].sort(compare);
}

/**
 * The tags of active contacts, in name order.
 * @param {Views} views
 */
export function tagsInUse(views) {
  const tags = new Set();
  for (const row of views.contacts()) for (const tag of row.tags) tags.add(tag);
  return [...tags].sort((a, b) => compare(casefold(a), casefold(b)) || compare(a, b));
}

/**
 * The last `count` months up to and including the month of `asOf` ("YYYY-MM").
 * @param {number} asOf @param {number} [count]
 */
export function lastMonths(asOf, count = 12) {
  const end = new Date(asOf * 86_400_000);
  const months = [];
  for (let i = count - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - i, 1));
    months.push(d.toISOString().slice(0, 7));
  }
  return months;
}

/**
 * @typedef {{month: string, give: number, ask: number, touches: number}} MonthRow
 */

/**
 * Per month of the last twelve: the weight of gives (introductions included) and
 * of asks, and the number of touches (interactions, gives, introductions, asks).
 * Each live event counts once, whoever it is about.
 * @param {Views} views @param {number} asOf
 * @returns {MonthRow[]}
 */
export function monthly(views, asOf) {
  const months = lastMonths(asOf);
  const rows = months.map((month) => ({ month, give: 0, ask: 0, touches: 0 }));
  // each month's first day as a day number: events are placed by number, not by string
  const starts = months.map((m) => Date.UTC(Number(m.slice(0, 4)), Number(m.slice(5, 7)) - 1, 1) / 86_400_000);
  const fold = views.fold;
  for (const [id, e] of fold.byId) {
    if (e.event_id !== id || !TOUCHES.has(e.type) || fold.retractions.has(id)) continue;
    const day = localDay(e);
    if (day < starts[0] || day > asOf) continue;
    let i = starts.length - 1;
    while (starts[i] > day) i -= 1;
    const row = rows[i];
    row.touches += 1;
    const weight = /** @type {number} */ (e.weight ?? 0);
    if (e.type === "AskMade") row.ask += weight;
    else if (e.type !== "InteractionLogged") row.give += weight;
  }
  return rows;
}

const TOUCHES = new Set(["InteractionLogged", "GiveMade", "IntroductionMade", "AskMade"]);
