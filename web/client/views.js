// The views of ADR 0010 (projections/views.py), computed from a Fold: ledger,
// going cold (as of a day), timelines, stats and the contact listing.
//
// Summaries (the date-independent facts of a contact's group) are cached per
// group; `Views.apply` folds one event and drops only the summaries of the
// groups it changed, so a new event is reflected without refolding the log.

import { CIRCLE_CADENCE, CIRCLES } from "./events.js";
import { Fold, isActive, localDay } from "./fold.js";
import { contactHistory, planOf } from "./plan.js";
import { physicalMs } from "./hlc.js";
import { casefold, compare, shortId, valueText } from "./text.js";

/** @typedef {import("./events.js").Event} Event */
/** @typedef {import("./fold.js").Contact} Contact */
/** @typedef {import("./plan.js").ContactHistory} ContactHistory */

/** The window of the `one_sided` and `only_asks` flags, in days up to the as-of day. */
export const WINDOW_DAYS = 365;
export const TOP_ONE_SIDED = 5;
const DAY_MS = 86_400_000;
const GIVE = 1;
const ASK = 2;

/**
 * @typedef {{contact_id: string, name: string, circle: string,
 *   cadence_days: number | null, added_day: number, gives: number,
 *   give_weight: number, asks: number, ask_weight: number, granted: number,
 *   declined: number, withdrawn: number, unanswered: number, open: number,
 *   last_give: number | null, last_ask: number | null, last_touch: number | null,
 *   touches: number[]}} Summary
 * @typedef {{contact_id: string, name: string, gives: number, give_weight: number,
 *   asks: number, ask_weight: number, granted: number, declined: number,
 *   withdrawn: number, unanswered: number, open: number, balance: number,
 *   last_give: string | null, last_ask: string | null, last_touch: string | null,
 *   one_sided: boolean, only_asks: boolean}} LedgerRow
 * @typedef {{contact_id: string, name: string, circle: string, cadence_days: number,
 *   last_touch: string | null, days_since: number, status: string,
 *   overdue_days: number}} ColdRow
 * @typedef {{event_id: string, type: string, device_id: string, recorded_at: string,
 *   occurred_at: string, date: string, summary: string, contact_ids: string[],
 *   retracted: boolean, retracted_by: string[]}} TimelineEntry
 * @typedef {{as_of: string, contacts: number, circles: Record<string, number>,
 *   warm: number, cooling: number, cold: number, gives: number, give_weight: number,
 *   asks: number, ask_weight: number, open_asks: number,
 *   most_one_sided: LedgerRow[]}} Stats
 * @typedef {{contact_id: string, name: string, emails: string[], phones: string[],
 *   org: string | null, tags: string[], circle: string, cadence_days: number | null,
 *   archived: boolean, merged_into: string | null}} ContactRow
 */

// -- days ----------------------------------------------------------------------------

/**
 * YYYY-MM-DD of a day number (days since 1970-01-01), or null.
 * @param {number | null} day
 */
export function dateOf(day) {
  if (day === null) return null;
  let text = DATES.get(day);
  if (text === undefined) {
    text = new Date(day * DAY_MS).toISOString().slice(0, 10);
    if (DATES.size < 100_000) DATES.set(day, text);
  }
  return text;
}

/** Day number -> YYYY-MM-DD, remembered: a ledger shows the same few days often. */
const DATES = new Map();

/**
 * The day number of a YYYY-MM-DD date, or of a day number as is.
 * @param {string | number} value
 */
export function dayOf(value) {
  if (typeof value === "number") return value;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
  const ms = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!m || Number.isNaN(ms) || dateOf(ms / DAY_MS) !== value.trim()) {
    throw new RangeError(`cannot read date ${JSON.stringify(value)}: use YYYY-MM-DD`);
  }
  return ms / DAY_MS;
}

/** Today's local date as a day number (the default as-of day). */
export function today() {
  const now = new Date();
  return Math.floor((now.getTime() - now.getTimezoneOffset() * 60_000) / DAY_MS);
}

/**
 * @param {number} unixMs
 * @param {number} offsetMinutes
 */
function iso(unixMs, offsetMinutes) {
  const seconds = Math.floor(unixMs / 1000) * 1000;
  const local = new Date(seconds + offsetMinutes * 60_000).toISOString().slice(0, 19);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return `${local}${sign}${hh}:${mm}`;
}

// -- touch codes: day * 32 + kind * 8 + weight (arithmetic: days may be negative) ----

/**
 * @param {Event} e
 * @returns {number}
 */
function touchCode(e) {
  const kind = e.type === "AskMade" ? ASK : e.type === "InteractionLogged" ? 0 : GIVE;
  const weight = kind === 0 ? 0 : /** @type {number} */ (e.weight);
  return localDay(e) * 32 + kind * 8 + weight;
}

const TOUCHES = new Set(["InteractionLogged", "GiveMade", "IntroductionMade", "AskMade"]);
/** @param {number} code */
const dayOfCode = (code) => Math.floor(code / 32);
/** @param {number} code */
const lowOfCode = (code) => code - dayOfCode(code) * 32;

/**
 * First index in sorted `a`, from `start`, whose value is >= x.
 * @param {number[]} a
 * @param {number} x
 * @param {number} start
 * @returns {number}
 */
function bisect(a, x, start) {
  let lo = start;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// -- summaries -------------------------------------------------------------------------

/**
 * The summary of an active contact's group, or null if it has no rows.
 * @param {Fold} fold
 * @param {string} survivorId
 * @returns {Summary | null}
 */
export function summarize(fold, survivorId) {
  const contact = fold.contact(survivorId);
  if (!contact || !isActive(contact)) return null;
  const members = fold.members(survivorId);
  const retracted = fold.retractions;
  /** @type {Event[]} */
  let touches = [];
  /** @type {Iterable<string>} */
  let askIds = fold.asksOf.get(survivorId) ?? [];
  if (members.length === 1) {
    for (const e of fold.about.get(survivorId) ?? []) {
      if (TOUCHES.has(e.type) && !(retracted.size && retracted.has(e.event_id))) touches.push(e);
    }
  } else {
    /** @type {Map<string, Event>} one event counts once for a group */
    const unique = new Map();
    const asks = new Set();
    for (const member of members) {
      for (const e of fold.about.get(member) ?? []) {
        if (TOUCHES.has(e.type) && !retracted.has(e.event_id)) unique.set(e.event_id, e);
      }
      for (const askId of fold.asksOf.get(member) ?? []) asks.add(askId);
    }
    touches = [...unique.values()];
    askIds = asks;
  }
  const totals = { granted: 0, declined: 0, withdrawn: 0, unanswered: 0, open: 0 };
  for (const askId of askIds) {
    if (fold.retractions.has(askId)) continue;
    const outcome = /** @type {keyof typeof totals} */ (fold.outcome(askId) ?? "open");
    totals[outcome] += 1;
  }
  const codes = Array.from(Float64Array.from(touches, touchCode).sort());
  let gives = 0, giveWeight = 0, asks = 0, askWeight = 0;
  /** @type {number | null} */
  let lastGive = null;
  /** @type {number | null} */
  let lastAsk = null;
  for (const code of codes) {
    const low = lowOfCode(code);
    if (low & 16) {
      asks += 1;
      askWeight += low & 7;
      lastAsk = dayOfCode(code);
    } else if (low & 8) {
      gives += 1;
      giveWeight += low & 7;
      lastGive = dayOfCode(code);
    }
  }
  return {
    contact_id: survivorId,
    name: contact.name,
    circle: contact.circle,
    cadence_days: contact.cadence_days ?? CIRCLE_CADENCE[contact.circle] ?? null,
    added_day: localDay(contact.added),
    gives,
    give_weight: giveWeight,
    asks,
    ask_weight: askWeight,
    ...totals,
    last_give: lastGive,
    last_ask: lastAsk,
    last_touch: codes.length ? dayOfCode(codes[codes.length - 1]) : null,
    touches: codes,
  };
}

// -- date-dependent views ------------------------------------------------------------------

/**
 * (give weight, ask weight, touches, ask touches) over (asOf - 365, asOf].
 * @param {number[]} touches @param {number} asOf
 */
function windowOf(touches, asOf) {
  let give = 0, ask = 0, count = 0, askCount = 0;
  const end = bisect(touches, (asOf + 1) * 32, 0);
  for (let i = bisect(touches, (asOf - WINDOW_DAYS + 1) * 32, 0); i < end; i++) {
    const low = lowOfCode(touches[i]);
    count += 1;
    if (low & 16) {
      ask += low & 7;
      askCount += 1;
    } else if (low & 8) give += low & 7;
  }
  return { give, ask, count, askCount };
}

/**
 * @param {Summary} s @param {number} asOf
 * @returns {LedgerRow}
 */
export function ledgerRow(s, asOf) {
  const w = windowOf(s.touches, asOf);
  return {
    contact_id: s.contact_id,
    name: s.name,
    gives: s.gives,
    give_weight: s.give_weight,
    asks: s.asks,
    ask_weight: s.ask_weight,
    granted: s.granted,
    declined: s.declined,
    withdrawn: s.withdrawn,
    unanswered: s.unanswered,
    open: s.open,
    balance: s.give_weight - s.ask_weight,
    last_give: dateOf(s.last_give),
    last_ask: dateOf(s.last_ask),
    last_touch: dateOf(s.last_touch),
    one_sided: w.ask > w.give,
    only_asks: w.count > 0 && w.count === w.askCount,
  };
}

/**
 * @param {{name: string, contact_id: string}} a
 * @param {{name: string, contact_id: string}} b
 */
function byName(a, b) {
  return compare(casefold(a.name), casefold(b.name)) || compare(a.contact_id, b.contact_id);
}

/**
 * Ledger rows by name (case-insensitive), then id.
 * @param {Iterable<Summary>} summaries @param {number} asOf
 */
export function ledger(summaries, asOf) {
  return Array.from(summaries, (s) => ledgerRow(s, asOf)).sort(byName);
}

/**
 * Going-cold status as of a day; null without a cadence or if added later.
 * @param {Summary} s @param {number} asOf
 * @returns {ColdRow | null}
 */
export function coldRow(s, asOf) {
  if (s.cadence_days === null || s.added_day > asOf) return null;
  const i = bisect(s.touches, (asOf + 1) * 32, 0);
  const last = i ? dayOfCode(s.touches[i - 1]) : null;
  const since = asOf - (last === null ? s.added_day : last);
  const cadence = s.cadence_days;
  const status = 4 * since < 3 * cadence ? "warm" : since <= cadence ? "cooling" : "cold";
  return {
    contact_id: s.contact_id,
    name: s.name,
    circle: s.circle,
    cadence_days: cadence,
    last_touch: dateOf(last),
    days_since: since,
    status,
    overdue_days: Math.max(0, since - cadence),
  };
}

/** @type {Record<string, number>} */
const URGENCY = { cold: 0, cooling: 1, warm: 2 };

/**
 * Cooling and cold contacts (everyone with a cadence if `all`), most urgent first.
 * @param {Iterable<Summary>} summaries @param {number} asOf @param {boolean} [all]
 */
export function cold(summaries, asOf, all = false) {
  /** @type {ColdRow[]} */
  const rows = [];
  for (const s of summaries) {
    const r = coldRow(s, asOf);
    if (r && (all || r.status !== "warm")) rows.push(r);
  }
  return rows.sort(
    (a, b) =>
      URGENCY[a.status] - URGENCY[b.status] ||
      b.days_since / b.cadence_days - a.days_since / a.cadence_days ||
      byName(a, b),
  );
}

/**
 * Network totals as of a day.
 * @param {Summary[]} summaries @param {number} asOf
 * @returns {Stats}
 */
export function stats(summaries, asOf) {
  /** @type {Record<string, number>} */
  const circles = Object.fromEntries(CIRCLES.map((c) => [c, 0]));
  for (const s of summaries) circles[s.circle] = (circles[s.circle] ?? 0) + 1;
  const statuses = { warm: 0, cooling: 0, cold: 0 };
  for (const r of cold(summaries, asOf, true)) statuses[/** @type {"warm"} */ (r.status)] += 1;
  const oneSided = ledger(summaries, asOf)
    .filter((r) => r.balance < 0)
    .sort((a, b) => a.balance - b.balance || compare(casefold(a.name), casefold(b.name)));
  const sum = (/** @type {(s: Summary) => number} */ f) => summaries.reduce((t, s) => t + f(s), 0);
  return {
    as_of: dateOf(asOf) ?? "",
    contacts: summaries.length,
    circles,
    ...statuses,
    gives: sum((s) => s.gives),
    give_weight: sum((s) => s.give_weight),
    asks: sum((s) => s.asks),
    ask_weight: sum((s) => s.ask_weight),
    open_asks: sum((s) => s.open),
    most_one_sided: oneSided.slice(0, TOP_ONE_SIDED),
  };
}

// -- contacts ------------------------------------------------------------------------------

/**
 * The rows of `recip contact list --json` (every contact with `all`).
 * @param {Fold} fold @param {boolean} [all]
 * @returns {ContactRow[]}
 */
export function contactRows(fold, all = false) {
  const chosen = fold.contacts().filter((c) => all || isActive(c));
  return chosen
    .map((c) => ({
      contact_id: c.id,
      name: c.name,
      emails: c.emails,
      phones: c.phones,
      org: c.org,
      tags: c.tags,
      circle: c.circle,
      cadence_days: c.cadence_days,
      archived: c.archived,
      merged_into: c.survivor !== c.id ? c.survivor : null,
    }))
    .sort(byName);
}

// -- timeline --------------------------------------------------------------------------------

/**
 * A contact group's full history, oldest first (occurred_at, hlc, event_id);
 * retracted entries kept and marked.
 * @param {Fold} fold @param {string} survivorId
 * @returns {TimelineEntry[]}
 */
export function timeline(fold, survivorId) {
  /** @type {Map<string, Event>} */
  const found = new Map();
  for (const member of fold.members(survivorId)) {
    for (const e of fold.about.get(member) ?? []) {
      found.set(e.event_id, e);
      if (e.type === "AskMade") {
        for (const r of fold.resolutions.get(e.event_id) ?? []) found.set(r.event_id, r);
      }
    }
  }
  for (const e of [...found.values()]) {
    for (const r of fold.retractions.get(e.event_id) ?? []) found.set(r.event_id, r);
  }
  /** @type {Map<string, string>} */
  const names = new Map(fold.contacts().map((c) => [c.id, c.name]));
  const events = [...found.values()].sort(
    (a, b) =>
      a.occurred_at - b.occurred_at ||
      (a.hlc < b.hlc ? -1 : a.hlc > b.hlc ? 1 : compare(a.event_id, b.event_id)),
  );
  return events.map((e) => {
    const retracted = fold.isRetracted(e.event_id);
    return {
      event_id: e.event_id,
      type: e.type,
      device_id: e.device_id,
      recorded_at: iso(physicalMs(e.hlc), 0),
      occurred_at: iso(e.occurred_at, e.utc_offset),
      date: dateOf(localDay(e)) ?? "",
      summary: describe(fold, e, names),
      contact_ids: contactIds(fold, e),
      retracted,
      retracted_by: retracted
        ? (fold.retractions.get(e.event_id) ?? []).map((r) => r.event_id).sort(compare)
        : [],
    };
  });
}

/**
 * @param {Fold} fold
 * @param {Event} e
 * @returns {string[]}
 */
function contactIds(fold, e) {
  switch (e.type) {
    case "AskResolved": {
      const ask = fold.asks.get(/** @type {string} */ (e.ask_id));
      return ask ? [/** @type {string} */ (ask.contact_id)] : [];
    }
    case "EventRetracted": {
      const target = fold.byId.get(/** @type {string} */ (e.target_id));
      return target ? contactIds(fold, target) : [];
    }
    case "ContactAdded":
      return [e.event_id];
    case "InteractionLogged":
    case "IntroductionMade":
      return [.../** @type {string[]} */ (e.contact_ids)];
    case "ContactsMerged":
      return [/** @type {string} */ (e.survivor_id), /** @type {string} */ (e.absorbed_id)];
    default:
      return [String(e.contact_id ?? "")];
  }
}

/**
 * One line saying what an event recorded (projections.views.describe).
 * @param {Fold} fold @param {Event} e @param {Map<string, string>} names
 */
export function describe(fold, e, names) {
  const name = (/** @type {unknown} */ id) =>
    names.get(/** @type {string} */ (id)) ?? shortId(/** @type {string} */ (id));
  const f = /** @type {Record<string, any>} */ (e);
  switch (e.type) {
    case "ContactAdded":
      return `added ${f.name} (${f.circle})`;
    case "ContactEdited": {
      const fields = ["name", "emails", "phones", "org", "tags", "circle", "cadence_days"]
        .filter((k) => k in f)
        .map((k) => `${k}: ${valueText(f[k])}`);
      return `edited ${fields.join("; ")}`;
    }
    case "ContactArchived":
      return `archived ${name(f.contact_id)}`;
    case "ContactRestored":
      return `restored ${name(f.contact_id)}`;
    case "ContactsMerged":
      return (
        `merged ${name(f.absorbed_id)} (${shortId(f.absorbed_id)}) into ` +
        `${name(f.survivor_id)} (${shortId(f.survivor_id)})`
      );
    case "InteractionLogged": {
      const people = f.contact_ids.map(name).join(", ");
      return `${f.channel} with ${people} (by ${f.initiated_by})${f.note ? `: ${f.note}` : ""}`;
    }
    case "AskMade":
      return `asked ${name(f.contact_id)}: ${f.what} (w${f.weight}, ${fold.outcome(e.event_id) ?? "open"})`;
    case "AskResolved": {
      const ask = fold.asks.get(f.ask_id);
      const what = ask ? /** @type {string} */ (ask.what) : shortId(f.ask_id);
      return `ask '${what}' ${f.outcome}${f.note ? `: ${f.note}` : ""}`;
    }
    case "GiveMade":
      return `gave ${name(f.contact_id)}: ${f.what} (${f.kind}, w${f.weight})`;
    case "IntroductionMade":
      return `introduced ${name(f.contact_ids[0])} and ${name(f.contact_ids[1])} (w${f.weight})`;
    case "NoteAdded":
      return `note: ${f.text}`;
    case "EventRetracted": {
      const target = fold.byId.get(f.target_id);
      return `retracted ${target ? target.type : "event"} ${shortId(f.target_id)}: ${f.reason}`;
    }
    default:
      return e.type;
  }
}

/**
 * Each contact group's value, by survivor id: from `cache`, else computed and
 * kept there (`null`: the group shows nothing, and is left out).
 * @template T
 * @param {Fold} fold @param {Map<string, T | null>} cache
 * @param {(fold: Fold, survivorId: string) => T | null} compute
 * @returns {T[]}
 */
function perGroup(fold, cache, compute) {
  /** @type {T[]} */
  const out = [];
  for (const survivor of [...fold.groups().keys()].sort(compare)) {
    let value = cache.get(survivor);
    if (value === undefined) {
      value = compute(fold, survivor);
      cache.set(survivor, value);
    }
    if (value) out.push(value);
  }
  return out;
}

/** Batches larger than this are folded in bulk (`Views.applyAll`). */
const BULK = 1000;

// -- the incremental whole -----------------------------------------------------------------------

/**
 * The date-dependent views of a set of summaries: what a first view needs.
 * A device shows these from the summaries it saved last (`Device`, ADR 0090)
 * while its log is being folded.
 */
export class SummaryViews {
  /** @param {Summary[]} [summaries] */
  constructor(summaries = []) {
    /** @type {Summary[] | null} */
    this._all = summaries;
  }

  /** Summaries of every active contact, by contact id. @returns {Summary[]} */
  summaries() {
    return this._all ?? [];
  }

  /** @param {string | number} [asOf] */
  ledger(asOf = today()) {
    return ledger(this.summaries(), dayOf(asOf));
  }

  /**
   * @param {string | number} [asOf]
   * @param {{all?: boolean}} [options]
   */
  cold(asOf = today(), options = {}) {
    return cold(this.summaries(), dayOf(asOf), options.all ?? false);
  }

  /** @param {string | number} [asOf] */
  stats(asOf = today()) {
    return stats(this.summaries(), dayOf(asOf));
  }
}

/**
 * Every view of one device's event set, kept current event by event.
 */
export class Views extends SummaryViews {
  constructor() {
    super();
    this.fold = new Fold();
    /** @type {Map<string, Summary | null>} survivor -> summary (cached) */
    this._summaries = new Map();
    this._all = null;
    /** @type {Map<string, ContactHistory | null>} survivor -> the plan's history (cached) */
    this._histories = new Map();
    /** @type {ContactHistory[] | null} */
    this._planAll = null;
  }

  /**
   * Fold one event in; returns whether any view may have changed.
   * @param {Event} e
   */
  apply(e) {
    const change = this.fold.apply(e);
    if (!change) return false;
    this._all = null;
    this._planAll = null;
    if (change.all) {
      this._summaries.clear();
      this._histories.clear();
    } else {
      for (const id of change.contacts) {
        const survivor = this.fold.survivor(id);
        this._summaries.delete(survivor);
        this._histories.delete(survivor);
      }
    }
    return true;
  }

  /**
   * Fold many events in: one by one while summaries are cached and the batch
   * is small (only the groups they touch are recomputed), in bulk otherwise
   * (a log being opened, a large page: every summary is recomputed anyway).
   * @param {Event[]} events
   */
  applyAll(events) {
    if (this._summaries.size && events.length <= BULK) {
      let changed = false;
      for (const e of events) changed = this.apply(e) || changed;
      return changed;
    }
    if (!this.fold.applyMany(events)) return false;
    this._all = null;
    this._summaries.clear();
    this._planAll = null;
    this._histories.clear();
    return true;
  }

  /** Summaries of every active contact, by contact id. @returns {Summary[]} */
  summaries() {
    this._all ??= perGroup(this.fold, this._summaries, summarize);
    return this._all;
  }

  /**
   * The plan's history of every active contact (plan.js), by contact id, kept
   * per group as the summaries are.
   * @returns {ContactHistory[]}
   */
  histories() {
    this._planAll ??= perGroup(this.fold, this._histories, contactHistory);
    return this._planAll;
  }

  /**
   * The plan for today (ADR 0100) as of a day: `recip today --json`.
   * @param {string | number} [asOf]
   * @param {{limit?: number}} [options]
   */
  plan(asOf = today(), options = {}) {
    return planOf(this.histories(), dayOf(asOf), options);
  }

  /**
   * The timeline of a contact's group (an absorbed contact's is its survivor's).
   * @param {string} contactId
   */
  timeline(contactId) {
    return timeline(this.fold, this.fold.survivor(contactId));
  }

  /** @param {{all?: boolean}} [options] */
  contacts(options = {}) {
    return contactRows(this.fold, options.all ?? false);
  }
}
