// The plan for today (scoring/plan.py, ADR 0100), computed from this device's
// fold: a short, reasoned list of people to reach out to, and why.
//
// Each active contact's history becomes items as scoring/history.py builds them
// (touches, asks and their effective resolutions, by local day, occurred_at,
// hlc, event id), a scorer per contact folds them up to the end of the day and
// says what that contact needs (cold, owe, one_sided, open_ask, occasion), and
// the plan keeps the most urgent, one per contact, at most `per_kind` of a kind.
// The sentences are the Python rule's, word for word: the conformance vectors
// (tests/conformance) hold the Python plan of every vector.

import { CIRCLE_CADENCE } from "./events.js";
import { later, localDay } from "./fold.js";
import { casefold, compare, head } from "./text.js";

/** @typedef {import("./events.js").Event} Event */
/** @typedef {import("./fold.js").Fold} Fold */

export const COLD = "cold";
export const OWE = "owe";
export const ONE_SIDED = "one_sided";
export const OPEN_ASK = "open_ask";
export const OCCASION = "occasion";
/** Every kind, in the order that breaks ties between equally urgent nudges. */
export const NUDGE_KINDS = [OCCASION, OWE, OPEN_ASK, COLD, ONE_SIDED];
/** Days that count as "the last year" for one-sidedness. */
export const YEAR_DAYS = 365;
/** Plan items when no limit is given. */
export const DEFAULT_LIMIT = 5;
const PLACES = 6;
const DAY_MS = 86_400_000;
const TOUCH_KINDS = new Set(["InteractionLogged", "GiveMade", "IntroductionMade"]);

/**
 * The rule's parameters (the defaults of `scoring.plan.Today`).
 * @typedef {{owe_days: number, one_sided_scale: number, ask_wait_days: number,
 *   occasion_days: number, per_kind: number, weights: Record<string, number>}} PlanParams
 */
/** @type {PlanParams} */
export const DEFAULT_PARAMS = {
  owe_days: 30,
  one_sided_scale: 3,
  ask_wait_days: 14,
  occasion_days: 7,
  per_kind: 3,
  weights: Object.fromEntries(NUDGE_KINDS.map((kind) => [kind, 1])),
};

/**
 * @typedef {{kind: string, contact_id: string, name: string, urgency: number,
 *   why: string, todo: string, since: string | null, due: string | null,
 *   ask_id: string | null}} Nudge
 * @typedef {{as_of: string, rule: string, limit: number, candidates: number,
 *   items: Nudge[]}} Plan
 * @typedef {{label: string, month: number, day: number}} Occasion
 * @typedef {{id: string, name: string, cadence_days: number | null,
 *   added_day: number, occasions: Occasion[]}} Subject
 * @typedef {{day: number, at: number, hlc: bigint, event_id: string, kind: string,
 *   weight: number, what: string, ask_id: string | null, outcome: string | null}} Item
 * @typedef {{subject: Subject, items: Item[], touchDays: Float64Array,
 *   nudged?: {day: number, params: PlanParams, nudges: Nudge[]}}} ContactHistory
 *   `items` are the gives, introductions, asks and resolutions in feed order;
 *   `touchDays` the days of every touch (interactions too), sorted: of most of a
 *   log, the interactions, the plan reads only the last day, so they are days, not
 *   items. `nudged` remembers the last day's nudges: a history is replaced, not
 *   changed, when its contact's events change (`Views`), so a redraw recomputes
 *   only those.
 */

// -- words and numbers as Python writes them ------------------------------------------

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
/** What Python's `str.split()` splits on (JavaScript's `\s` differs: U+001C-1F, U+0085, U+FEFF). */
const WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/** @param {number} n */
const days = (n) => (n === 1 ? "1 day" : `${n} days`);

/**
 * Text on one line in curly quotes, cut to `width` code points with an ellipsis.
 * @param {string} text @param {number} [width]
 */
function quote(text, width = 60) {
  const line = text.split(WHITESPACE).filter(Boolean).join(" ");
  const cut = Array.from(line).length <= width ? line : `${head(line, width - 1)}…`;
  return `“${cut}”`;
}

/** YYYY-MM-DD of a day number. @param {number} day */
function dateOf(day) {
  return utc(day).toISOString().slice(0, 10);
}

/** @param {number} day */
function utc(day) {
  return new Date(day * DAY_MS);
}

/** "5 Mar 2025" (Python's `f"{d.day} {d:%b %Y}"`). @param {number} day */
function dayMonthYear(day) {
  const d = utc(day);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

/** "Wed 05 Mar" (Python's `%a %d %b`). @param {number} day */
function weekdayDayMonth(day) {
  const d = utc(day);
  const dd = String(d.getUTCDate()).padStart(2, "0");
  return `${WEEKDAYS[d.getUTCDay()]} ${dd} ${MONTHS[d.getUTCMonth()]}`;
}

/**
 * Python's `round(x, places)`: the exact binary value rounded, ties to even.
 * @param {number} x @param {number} places
 */
export function roundTo(x, places) {
  if (!Number.isFinite(x) || x === 0) return x;
  const exact = Math.abs(x).toFixed(100); // every digit of a double above 2^-48
  const point = exact.indexOf(".");
  const digits = exact.slice(0, point) + exact.slice(point + 1);
  const kept = digits.slice(0, point + places);
  const rest = digits.slice(point + places);
  const odd = Number(kept[kept.length - 1]) % 2 === 1;
  const up = rest[0] > "5" || (rest[0] === "5" && (/[1-9]/.test(rest.slice(1)) || odd));
  // an integer over a power of ten: one correctly rounded division
  const value = (Number(kept) + (up ? 1 : 0)) / 10 ** places;
  return x < 0 ? -value : value;
}

/**
 * Urgency from a ratio to "due": itself up to 1, then 1 + log2 of it.
 * @param {number} ratio
 */
export function grow(ratio) {
  return ratio <= 1 ? ratio : 1 + Math.log2(ratio);
}

/**
 * The day number of an occasion's next date on or after `day` (29 Feb: 28 Feb
 * in other years).
 * @param {Occasion} occasion @param {number} day
 */
export function nextOccurrence(occasion, day) {
  const year = utc(day).getUTCFullYear();
  for (const y of [year, year + 1]) {
    const last = new Date(Date.UTC(y, occasion.month, 0)).getUTCDate();
    const when = Date.UTC(y, occasion.month - 1, Math.min(occasion.day, last)) / DAY_MS;
    if (when >= day) return when;
  }
  throw new Error("unreachable: next year always qualifies");
}

// -- one contact ------------------------------------------------------------------------

/** One contact's state for the plan (scoring.plan.PlanScorer). */
export class PlanScorer {
  /** @param {Subject} subject @param {PlanParams} params */
  constructor(subject, params) {
    this.subject = subject;
    this.params = params;
    /** @type {number | null} */
    this.touched = null;
    /** @type {Map<string, [number, string]>} open asks: id -> (day, what) */
    this.asks = new Map();
    /** @type {Set<string>} */
    this.resolved = new Set();
    /** @type {[number, string, string] | null} the last unreturned grant: (day, what, ask id) */
    this.owed = null;
    /** @type {[number, number][]} (day, signed weight): gives +, asks - */
    this.exchanges = [];
  }

  /** @param {Item} item */
  feed(item) {
    const kind = item.kind;
    if (kind !== "resolution" && (this.touched === null || item.day > this.touched)) {
      this.touched = item.day;
    }
    if (kind === "ask") {
      const askId = /** @type {string} */ (item.ask_id);
      this.exchanges.push([item.day, -item.weight]);
      if (!this.resolved.has(askId)) this.asks.set(askId, [item.day, item.what]);
    } else if (kind === "give" || kind === "introduction") {
      this.exchanges.push([item.day, item.weight]);
      this.owed = null;
    } else if (kind === "resolution") {
      const askId = /** @type {string} */ (item.ask_id);
      this.resolved.add(askId);
      const asked = this.asks.get(askId);
      this.asks.delete(askId);
      if (item.outcome === "granted") this.owed = [item.day, asked ? asked[1] : "", askId];
    }
  }

  /**
   * Everything this contact needs at the end of `day`, most urgent first.
   * @param {number} day
   * @returns {Nudge[]}
   */
  nudges(day) {
    const found = [this.cold(day), this.owe(day), this.oneSided(day), this.openAsk(day), this.occasion(day)];
    return /** @type {Nudge[]} */ (found.filter((n) => n !== null)).sort(order);
  }

  /**
   * @param {string} kind @param {number} urgency @param {string} why @param {string} todo
   * @param {{since?: string | null, due?: string | null, ask_id?: string | null}} [extra]
   * @returns {Nudge}
   */
  nudge(kind, urgency, why, todo, extra = {}) {
    return {
      kind,
      contact_id: this.subject.id,
      name: this.subject.name,
      urgency: roundTo(this.params.weights[kind] * urgency, PLACES),
      why,
      todo,
      since: extra.since ?? null,
      due: extra.due ?? null,
      ask_id: extra.ask_id ?? null,
    };
  }

  /** @param {number} day */
  cold(day) {
    const cadence = this.subject.cadence_days;
    const start = this.touched ?? this.subject.added_day;
    if (cadence === null || 4 * (day - start) < 3 * cadence) return null;
    const since = day - start;
    const why =
      this.touched === null
        ? `added ${days(since)} ago and never in touch; every ${cadence}`
        : `${days(since)} since you were last in touch, every ${cadence}`;
    const todo = since > cadence ? "reach out" : "reach out soon";
    return this.nudge(COLD, grow(since / cadence), why, todo, { since: dateOf(start) });
  }

  /** @param {number} day */
  owe(day) {
    if (this.owed === null || this.owed[0] > day) return null;
    const [granted, what, askId] = this.owed;
    const why = `granted ${quote(what)} on ${dayMonthYear(granted)}; nothing given back since`;
    const urgency = grow(1 + (day - granted) / this.params.owe_days);
    return this.nudge(OWE, urgency, why, "offer something back", { since: dateOf(granted), ask_id: askId });
  }

  /** @param {number} day */
  oneSided(day) {
    let gives = 0;
    let asks = 0;
    const start = day - YEAR_DAYS;
    for (const [when, signed] of this.exchanges) {
      if (start < when && when <= day) {
        if (signed > 0) gives += signed;
        else asks -= signed;
      }
    }
    if (asks <= gives) return null;
    const why = `asked weight ${asks} against given ${gives} over the last year`;
    const urgency = grow((asks - gives) / this.params.one_sided_scale);
    return this.nudge(ONE_SIDED, urgency, why, "give something before asking again");
  }

  /** @param {number} day */
  openAsk(day) {
    const wait = this.params.ask_wait_days;
    /** @type {[number, string, string][]} */
    const overdue = [];
    for (const [askId, [when, what]] of this.asks) {
      if (day - when >= wait) overdue.push([when, askId, what]);
    }
    if (!overdue.length) return null;
    overdue.sort((a, b) => a[0] - b[0] || compare(a[1], b[1]) || compare(a[2], b[2]));
    const [when, askId, what] = overdue[0];
    const waited = day - when;
    const more = overdue.length > 1 ? ` (and ${overdue.length - 1} more)` : "";
    return this.nudge(
      OPEN_ASK,
      grow(waited / wait),
      `asked ${quote(what)} ${days(waited)} ago, still open${more}`,
      `follow up, or resolve it as unanswered (recip resolve ${head(askId, 13)} unanswered)`,
      { since: dateOf(when), due: dateOf(when + wait), ask_id: askId },
    );
  }

  /** @param {number} day */
  occasion(day) {
    const ahead = this.params.occasion_days;
    /** @type {[number, string] | null} */
    let best = null;
    for (const occasion of this.subject.occasions) {
      const until = nextOccurrence(occasion, day) - day;
      if (until <= ahead && (best === null || until < best[0] || (until === best[0] && compare(occasion.label, best[1]) < 0))) {
        best = [until, occasion.label];
      }
    }
    if (best === null) return null;
    const [until, label] = best;
    const why = until === 0 ? `${label} today` : `${label} in ${days(until)}, on ${weekdayDayMonth(day + until)}`;
    const urgency = 1 + (ahead - until) / Math.max(ahead, 1);
    return this.nudge(OCCASION, urgency, why, "send a note", { due: dateOf(day + until) });
  }
}

/**
 * Most urgent first; ties by kind, name (any case), contact id.
 * @param {Nudge} a @param {Nudge} b
 */
export function order(a, b) {
  return (
    b.urgency - a.urgency ||
    NUDGE_KINDS.indexOf(a.kind) - NUDGE_KINDS.indexOf(b.kind) ||
    compare(casefold(a.name), casefold(b.name)) ||
    compare(a.contact_id, b.contact_id)
  );
}

/**
 * The first `limit` nudges, one per contact and at most `perKind` of a kind (0: no cap).
 * @param {Nudge[]} ranked @param {number} limit @param {number} perKind
 */
export function choose(ranked, limit, perKind) {
  /** @type {Nudge[]} */
  const chosen = [];
  /** @type {Map<string, number>} */
  const taken = new Map();
  const people = new Set();
  for (const nudge of ranked) {
    if (chosen.length >= limit) break;
    if (people.has(nudge.contact_id) || (perKind && (taken.get(nudge.kind) ?? 0) >= perKind)) continue;
    taken.set(nudge.kind, (taken.get(nudge.kind) ?? 0) + 1);
    people.add(nudge.contact_id);
    chosen.push(nudge);
  }
  return chosen;
}

// -- the history of the fold (scoring.history.History) -------------------------------------

/**
 * A contact's yearly dates: its birthday, then its occasions, without the days no
 * year has (scoring.history.yearly).
 * @param {import("./fold.js").Dates} dates
 * @returns {Occasion[]}
 */
function yearly(dates) {
  const dated = dates.birthday ? [{ label: "birthday", date: dates.birthday }] : [];
  /** @type {Occasion[]} */
  const out = [];
  for (const o of [...dated, ...dates.occasions]) {
    const month = Number(o.date.slice(-5, -3));
    const day = Number(o.date.slice(-2));
    const longest = new Date(Date.UTC(2000, month, 0)).getUTCDate(); // 2000: a leap year
    if (month >= 1 && month <= 12 && day >= 1 && day <= longest) out.push({ label: o.label, month, day });
  }
  return out;
}

/**
 * @param {Item} a @param {Item} b
 */
function feedOrder(a, b) {
  if (a.day !== b.day) return a.day - b.day;
  if (a.at !== b.at) return a.at - b.at;
  if (a.hlc !== b.hlc) return a.hlc < b.hlc ? -1 : 1;
  return compare(a.event_id, b.event_id);
}

/**
 * @param {Event} e @param {string} kind @param {number} weight
 * @param {string | null} [askId] @param {string | null} [outcome] @param {string} [what]
 * @returns {Item}
 */
function itemOf(e, kind, weight, askId = null, outcome = null, what = "") {
  return { day: localDay(e), at: e.occurred_at, hlc: e.hlc, event_id: e.event_id, kind, weight, what, ask_id: askId, outcome };
}

/**
 * An active contact's history as scoring.history builds it: the touches and asks
 * of every contact merged into it that was ever added (an id never added counts
 * for no one), each event once, retracted ones left out, an ask's effective
 * resolution at its own date; in feed order. Null for a contact not shown
 * (archived, merged away, retracted, never added).
 * @param {Fold} fold @param {string} survivorId
 * @returns {ContactHistory | null}
 */
export function contactHistory(fold, survivorId) {
  const c = fold.contact(survivorId);
  if (!c || c.archived || c.survivor !== c.id) return null;
  const subject = {
    id: c.id,
    name: c.name,
    cadence_days: c.cadence_days ?? CIRCLE_CADENCE[c.circle] ?? null,
    added_day: localDay(c.added),
    occasions: yearly(fold.dates(c.id)),
  };
  const members = fold.members(survivorId).filter((id) => fold.added.has(id));
  const retractions = fold.retractions;
  /** @type {Item[]} */
  const items = [];
  /** @type {number[]} */
  const touchDays = [];
  /** @type {Set<string> | null} an event naming two members counts once */
  const seen = members.length > 1 ? new Set() : null;
  for (const member of members) {
    for (const e of fold.about.get(member) ?? []) {
      if (!TOUCH_KINDS.has(e.type) || (retractions.has(e.event_id) && fold.isRetracted(e.event_id))) continue;
      if (seen) {
        if (seen.has(e.event_id)) continue;
        seen.add(e.event_id);
      }
      touchDays.push(localDay(e));
      if (e.type !== "InteractionLogged") {
        items.push(itemOf(e, e.type === "GiveMade" ? "give" : "introduction", /** @type {number} */ (e.weight)));
      }
    }
    for (const askId of fold.asksOf.get(member) ?? []) {
      const made = fold.asks.get(askId);
      if (!made || fold.isRetracted(askId)) continue;
      const ask = itemOf(made, "ask", /** @type {number} */ (made.weight), askId, null, /** @type {string} */ (made.what));
      items.push(ask);
      touchDays.push(ask.day);
      /** @type {Event | null} */
      let resolution = null;
      for (const r of fold.resolutions.get(askId) ?? []) {
        if (fold.live(r) && (resolution === null || later(r, resolution))) resolution = r;
      }
      if (resolution) items.push(itemOf(resolution, "resolution", 1, askId, /** @type {string} */ (resolution.outcome)));
    }
  }
  items.sort(feedOrder);
  return { subject, items, touchDays: Float64Array.from(touchDays).sort() };
}

/**
 * Every active contact's history (`contactHistory`), by contact id.
 * @param {Fold} fold
 * @returns {ContactHistory[]}
 */
export function histories(fold) {
  /** @type {ContactHistory[]} */
  const out = [];
  for (const survivor of [...fold.groups().keys()].sort(compare)) {
    const h = contactHistory(fold, survivor);
    if (h) out.push(h);
  }
  return out;
}

// -- the plan ---------------------------------------------------------------------------------

/**
 * What one contact needs at the end of `day` (none before it was added).
 * @param {ContactHistory} h @param {number} day @param {PlanParams} params
 * @returns {Nudge[]}
 */
function nudgesOf(h, day, params) {
  if (h.nudged && h.nudged.day === day && h.nudged.params === params) return h.nudged.nudges;
  /** @type {Nudge[]} */
  let nudges = [];
  if (day >= h.subject.added_day) {
    const scorer = new PlanScorer(h.subject, params);
    for (const item of h.items) {
      if (item.day > day) break;
      scorer.feed(item);
    }
    // the last touch on or before `day` (`touchDays` holds them all, interactions too)
    const touches = h.touchDays;
    let lo = 0;
    let hi = touches.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (touches[mid] <= day) lo = mid + 1;
      else hi = mid;
    }
    scorer.touched = lo ? touches[lo - 1] : null;
    nudges = scorer.nudges(day);
  }
  h.nudged = { day, params, nudges };
  return nudges;
}

/**
 * The plan for the end of `day` from the contacts' histories: at most `limit`
 * nudges, most urgent first.
 * @param {Iterable<ContactHistory>} all @param {number} day
 * @param {{limit?: number, params?: PlanParams}} [options]
 * @returns {Plan}
 */
export function planOf(all, day, options = {}) {
  const limit = options.limit ?? DEFAULT_LIMIT;
  const params = options.params ?? DEFAULT_PARAMS;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError("a plan needs a limit of at least 1");
  /** @type {Nudge[]} */
  const ranked = [];
  for (const h of all) ranked.push(...nudgesOf(h, day, params));
  ranked.sort(order);
  return {
    as_of: dateOf(day),
    rule: "today",
    limit,
    candidates: new Set(ranked.map((n) => n.contact_id)).size,
    items: choose(ranked, limit, params.per_kind),
  };
}

/**
 * The plan of a fold for the end of `day` (`Views.plan` keeps the histories
 * between calls).
 * @param {Fold} fold @param {number} day
 * @param {{limit?: number, params?: PlanParams}} [options]
 * @returns {Plan}
 */
export function plan(fold, day, options = {}) {
  return planOf(histories(fold), day, options);
}
