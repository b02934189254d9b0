// The fold behind every view: the set semantics of core/state.py and the
// per-contact filings of projections/fold.py, in one incremental structure.
//
// `apply` records one event's facts in O(1) and says which contact groups it
// may have changed; views (views.js) cache per-group summaries and recompute
// only those. Every rule is stated over the event *set*, so the order in which
// events are applied never matters:
// - retraction: an event is retracted if any EventRetracted targets it (a
//   retraction of a retraction is inert);
// - last writer wins on (hlc, event_id) for contact fields, the archived flag
//   and ask outcomes; ContactAdded writes every field;
// - each absorbed contact follows its latest live merge; a cycle drops its
//   oldest link; history counts for the end of the chain;
// - one event per id: of different events claiming one id, the least
//   (device_id, seq) counts, the others are inert; events of unknown types
//   take no part (ContactDetailsSet is read for its dates only: `dates`).

import { contactsOf, isFolded } from "./events.js";
import { compare } from "./text.js";

/** @typedef {import("./events.js").Event} Event */

export const EDITABLE = ["name", "emails", "phones", "org", "tags", "circle", "cadence_days"];
const MS_PER_DAY = 86_400_000;

/**
 * Whether write `a` is later than write `b` in the total order (hlc, event_id).
 * @param {Event} a
 * @param {Event} b
 */
export function later(a, b) {
  return a.hlc !== b.hlc ? a.hlc > b.hlc : compare(a.event_id, b.event_id) > 0;
}

/**
 * The event's local date as days since 1970-01-01 (its own UTC offset applied).
 * @param {Event} e
 */
export function localDay(e) {
  return Math.floor((e.occurred_at + e.utc_offset * 60_000) / MS_PER_DAY);
}

/**
 * @template V
 * @param {Map<string, V[]>} map
 * @param {string} key
 * @param {V} value
 */
function push(map, key, value) {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * @template V
 * @param {Map<string, V[]>} map
 * @param {string} key
 * @param {V} value
 */
function drop(map, key, value) {
  const kept = (map.get(key) ?? []).filter((x) => x !== value);
  if (kept.length) map.set(key, kept);
  else map.delete(key);
}

/**
 * @typedef {{id: string, name: string, emails: string[], phones: string[],
 *   org: string | null, tags: string[], circle: string, cadence_days: number | null,
 *   archived: boolean, survivor: string, added: Event}} Contact
 */

/**
 * @typedef {{birthday: string | null, occasions: {label: string, date: string}[]}} Dates
 */

/** What changed: every group (`all`), or the contact ids whose groups changed. */
/** @typedef {{all: boolean, contacts: string[]}} Change */

/** @type {Change} a change nobody reads (`Fold.applyMany`) */
const SINK = { all: false, contacts: [] };

export class Fold {
  constructor() {
    /** @type {Map<string, Event>} the counting event of each id */
    this.byId = new Map();
    /** @type {Map<string, Event>} */
    this.added = new Map();
    /** @type {Map<string, Event[]>} */
    this.edits = new Map();
    /** @type {Map<string, Event[]>} contact id as written -> its ContactDetailsSet events */
    this.detailSets = new Map();
    /** @type {Map<string, Event[]>} */
    this.flags = new Map();
    /** @type {Map<string, Event>} */
    this.merges = new Map();
    /** @type {Map<string, Event>} */
    this.asks = new Map();
    /** @type {Map<string, string[]>} contact id as written -> ask ids */
    this.asksOf = new Map();
    /** @type {Map<string, Event[]>} */
    this.resolutions = new Map();
    /** @type {Map<string, Event[]>} */
    this.retractions = new Map();
    /** @type {Map<string, Event[]>} events filed under a contact id as written */
    this.about = new Map();
    /** @type {Set<string>} contact ids a `ContactForgotten` named (ADR 0130) */
    this.forgotten = new Set();
    /** @type {Map<string, string> | null} */
    this._links = null;
    /** @type {Map<string, string[]> | null} */
    this._groups = null;
  }

  /**
   * Record one event's facts; returns what it may have changed (null: nothing).
   * @param {Event} e
   * @returns {Change | null}
   */
  apply(e) {
    const change = this.record(e, { all: false, contacts: [] });
    if (change?.all) this.changed();
    return change;
  }

  /**
   * Record many events' facts (a log being opened): `apply` without telling
   * what changed, which spares an allocation or two per event.
   * @param {Iterable<Event>} events
   * @returns {boolean} whether any was new
   */
  applyMany(events) {
    let any = false;
    for (const e of events) any = this.record(e, SINK) !== null || any;
    this.changed();
    return any;
  }

  /**
   * @param {Event} e
   * @param {Change} change filled with what may have changed (`SINK` to ignore)
   * @returns {Change | null}
   */
  record(e, change) {
    if (!isFolded(e)) return null;
    const held = this.byId.get(e.event_id);
    if (held) {
      if (held.device_id === e.device_id && held.seq === e.seq) return null; // again
      const displaces =
        compare(e.device_id, held.device_id) < 0 ||
        (e.device_id === held.device_id && e.seq < held.seq);
      if (!displaces) return null; // an inert twin
      this.withdraw(held);
      change.all = true;
    }
    this.byId.set(e.event_id, e);
    const about = contactsOf(e);
    for (let i = 0; i < about.length; i++) {
      const contact = about[i];
      if (i > 0 && about.indexOf(contact) < i) continue; // named twice: filed once
      const filed = this.about.get(contact);
      if (filed) filed.push(e);
      else {
        this.about.set(contact, [e]);
        change.all = true; // a new id: groups change
      }
      if (change !== SINK) change.contacts.push(contact);
    }
    switch (e.type) {
      case "ContactAdded":
        this.added.set(e.event_id, e);
        break;
      case "ContactEdited":
        push(this.edits, /** @type {string} */ (e.contact_id), e);
        break;
      case "ContactDetailsSet":
        push(this.detailSets, /** @type {string} */ (e.contact_id), e);
        if (change !== SINK) change.contacts.push(/** @type {string} */ (e.contact_id));
        break;
      case "ContactArchived":
      case "ContactRestored":
        push(this.flags, /** @type {string} */ (e.contact_id), e);
        break;
      case "ContactsMerged":
        this.merges.set(e.event_id, e);
        change.all = true;
        break;
      case "AskMade":
        this.asks.set(e.event_id, e);
        push(this.asksOf, /** @type {string} */ (e.contact_id), e.event_id);
        break;
      case "AskResolved": {
        const askId = /** @type {string} */ (e.ask_id);
        push(this.resolutions, askId, e);
        const ask = this.asks.get(askId);
        if (ask && change !== SINK) change.contacts.push(/** @type {string} */ (ask.contact_id));
        break;
      }
      case "ContactForgotten":
        for (const id of /** @type {string[]} */ (e.contact_ids)) this.forgotten.add(id);
        break;
      case "EventRetracted": {
        const targetId = /** @type {string} */ (e.target_id);
        push(this.retractions, targetId, e);
        const target = this.byId.get(targetId);
        if (!target) break; // its facts are not here yet: nothing to withdraw
        if (target.type === "ContactsMerged" || target.type === "ContactAdded") change.all = true;
        if (change !== SINK) change.contacts.push(...this.contactsConcerned(target));
        break;
      }
    }
    return change;
  }

  /**
   * Undo `apply(e)`: a twin with a smaller (device_id, seq) arrived.
   * @param {Event} e
   */
  withdraw(e) {
    this.byId.delete(e.event_id);
    for (const contact of new Set(contactsOf(e))) drop(this.about, contact, e);
    switch (e.type) {
      case "ContactAdded":
        this.added.delete(e.event_id);
        break;
      case "ContactEdited":
        drop(this.edits, /** @type {string} */ (e.contact_id), e);
        break;
      case "ContactDetailsSet":
        drop(this.detailSets, /** @type {string} */ (e.contact_id), e);
        break;
      case "ContactArchived":
      case "ContactRestored":
        drop(this.flags, /** @type {string} */ (e.contact_id), e);
        break;
      case "ContactsMerged":
        this.merges.delete(e.event_id);
        break;
      case "AskMade":
        this.asks.delete(e.event_id);
        drop(this.asksOf, /** @type {string} */ (e.contact_id), e.event_id);
        break;
      case "AskResolved":
        drop(this.resolutions, /** @type {string} */ (e.ask_id), e);
        break;
      case "EventRetracted":
        drop(this.retractions, /** @type {string} */ (e.target_id), e);
        break;
    }
    this.changed();
  }

  /** Forget resolved links and groups (merges, new ids or twins changed them). */
  changed() {
    this._links = null;
    this._groups = null;
  }

  /**
   * The contact ids (as written) whose groups an event's facts count for.
   * @param {Event} e
   * @returns {string[]}
   */
  contactsConcerned(e) {
    if (e.type === "AskResolved") {
      const ask = this.asks.get(/** @type {string} */ (e.ask_id));
      return ask ? [/** @type {string} */ (ask.contact_id)] : [];
    }
    if (e.type === "ContactDetailsSet") return [/** @type {string} */ (e.contact_id)];
    return contactsOf(e);
  }

  // -- retraction ---------------------------------------------------------------

  /** @param {string} eventId */
  isRetracted(eventId) {
    if (!this.retractions.has(eventId)) return false;
    return this.byId.get(eventId)?.type !== "EventRetracted";
  }

  /** @param {Event} e */
  live(e) {
    return e.type !== "EventRetracted" && !this.isRetracted(e.event_id);
  }

  // -- merges -------------------------------------------------------------------

  /** @returns {Map<string, string>} absorbed -> survivor, cycles broken */
  links() {
    if (this._links) return this._links;
    /** @type {Map<string, Event>} */
    const latest = new Map();
    for (const m of this.merges.values()) {
      const absorbed = /** @type {string} */ (m.absorbed_id);
      if (!this.live(m) || absorbed === m.survivor_id) continue;
      const held = latest.get(absorbed);
      if (!held || later(m, held)) latest.set(absorbed, m);
    }
    /** @type {Map<string, string>} */
    const links = new Map();
    for (const [absorbed, m] of latest) links.set(absorbed, /** @type {string} */ (m.survivor_id));
    for (const start of [...links.keys()].sort(compare)) {
      const path = [];
      const onPath = new Set();
      let node = start;
      while (links.has(node) && !onPath.has(node)) {
        path.push(node);
        onPath.add(node);
        node = /** @type {string} */ (links.get(node));
      }
      if (onPath.has(node)) {
        const cycle = path.slice(path.indexOf(node));
        let oldest = cycle[0];
        for (const n of cycle) {
          if (later(/** @type {Event} */ (latest.get(oldest)), /** @type {Event} */ (latest.get(n)))) oldest = n;
        }
        links.delete(oldest);
      }
    }
    this._links = links;
    return links;
  }

  /** @param {string} contactId */
  survivor(contactId) {
    const links = this.links();
    let seen = contactId;
    while (links.has(seen)) seen = /** @type {string} */ (links.get(seen));
    return seen;
  }

  /** @returns {Map<string, string[]>} survivor -> every id counting for it (itself first) */
  groups() {
    if (this._groups) return this._groups;
    const ids = [...new Set([...this.about.keys(), ...this.added.keys(), ...this.links().keys()])];
    ids.sort(compare);
    /** @type {Map<string, string[]>} */
    const groups = new Map();
    for (const id of ids) {
      const s = this.survivor(id);
      if (!groups.has(s)) groups.set(s, [s]);
    }
    for (const id of ids) {
      const s = this.survivor(id);
      if (id !== s) /** @type {string[]} */ (groups.get(s)).push(id);
    }
    this._groups = groups;
    return groups;
  }

  /** @param {string} survivorId */
  members(survivorId) {
    if (this.survivor(survivorId) !== survivorId) return [];
    return this.groups().get(survivorId) ?? [survivorId];
  }

  // -- contacts and asks ----------------------------------------------------------

  /**
   * A contact's resolved state, or null if never added (or retracted).
   * @param {string} contactId
   * @returns {Contact | null}
   */
  contact(contactId) {
    const added = this.added.get(contactId);
    if (!added || this.isRetracted(contactId)) return null;
    /** @type {Record<string, any>} */
    const fields = {};
    /** @type {Record<string, Event>} */
    const stamps = {};
    for (const name of EDITABLE) {
      fields[name] = added[name];
      stamps[name] = added;
    }
    for (const edit of this.edits.get(contactId) ?? []) {
      if (!this.live(edit)) continue;
      for (const name of EDITABLE) {
        if (name in edit && later(edit, stamps[name])) {
          fields[name] = edit[name];
          stamps[name] = edit;
        }
      }
    }
    let archived = false;
    /** @type {Event | null} */
    let flag = null;
    for (const f of this.flags.get(contactId) ?? []) {
      if (this.live(f) && (flag === null || later(f, flag))) {
        archived = f.type === "ContactArchived";
        flag = f;
      }
    }
    return {
      id: contactId,
      name: fields.name,
      emails: fields.emails,
      phones: fields.phones,
      org: fields.org,
      tags: fields.tags,
      circle: fields.circle,
      cadence_days: fields.cadence_days,
      archived,
      survivor: this.survivor(contactId),
      added,
    };
  }

  /**
   * The dates of a contact's details (core.state.details): each of `birthday`
   * (YYYY-MM-DD or --MM-DD, null: none) and `occasions` from its last live write.
   * @param {string} contactId
   * @returns {Dates}
   */
  dates(contactId) {
    /** @type {Dates} */
    const out = { birthday: null, occasions: [] };
    /** @type {Record<string, Event>} */
    const stamps = {};
    for (const set of this.detailSets.get(contactId) ?? []) {
      if (!this.live(set)) continue;
      for (const name of /** @type {const} */ (["birthday", "occasions"])) {
        if (set[name] !== undefined && (!stamps[name] || later(set, stamps[name]))) {
          out[name] = /** @type {any} */ (set[name]);
          stamps[name] = set;
        }
      }
    }
    return out;
  }

  /** Every contact added and not retracted (archived and absorbed ones too), by id. */
  contacts() {
    const out = [];
    for (const id of [...this.added.keys()].sort(compare)) {
      const c = this.contact(id);
      if (c) out.push(c);
    }
    return out;
  }

  /**
   * An ask's outcome: its latest live resolution, else null (open).
   * @param {string} askId
   * @returns {string | null}
   */
  outcome(askId) {
    /** @type {Event | null} */
    let best = null;
    for (const r of this.resolutions.get(askId) ?? []) {
      if (!this.retractions.has(r.event_id) && (best === null || later(r, best))) best = r;
    }
    return best === null ? null : /** @type {string} */ (best.outcome);
  }
}

/**
 * Whether a contact is shown in views: neither archived nor merged away.
 * @param {Contact} c
 */
export function isActive(c) {
  return !c.archived && c.survivor === c.id;
}
