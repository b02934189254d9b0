// Forgetting a person (ADR 0130), as core/redaction.py and core/log.py do it.
//
// A `ContactForgotten` names contacts; every replica rewrites the events about
// them, keeping their envelope, ids, kinds, dates and weights and erasing every
// personal field. Which fields are personal, and what each becomes, is read from
// the Python schema (`personal.js`, generated): the redacted form of an event is
// the one Python computes, so every replica holds the same events and the server
// accepts this device's re-push of its own.

import { contactsOf } from "./events.js";
import { PERSONAL } from "./personal.js";

/** @typedef {import("./events.js").Event} Event */

/**
 * The personal fields of an event's type, if this build knows the type and
 * version as the reference does (other events are opaque: kept as they are).
 * @param {Event} e
 */
function personal(e) {
  const spec = PERSONAL[e.type];
  return spec && spec.v === (e.v ?? 1) ? spec : null;
}

/** @param {unknown} a @param {unknown} b */
function same(a, b) {
  if (Array.isArray(b)) return Array.isArray(a) && a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

/**
 * The event with every personal field erased (a field left out stays out); the
 * same object if nothing changes.
 * @param {Event} e
 * @returns {Event}
 */
export function redact(e) {
  const spec = personal(e);
  return spec ? /** @type {Event} */ (scrub(e, spec)) : e;
}

/**
 * An object (an event, or a struct in one) with its personal fields erased.
 * @param {Record<string, unknown>} value
 * @param {import("./personal.js").Personal} spec
 * @returns {Record<string, unknown>}
 */
function scrub(value, spec) {
  /** @type {Record<string, unknown> | null} */
  let out = null;
  for (const [key, erased] of Object.entries(spec.erase)) {
    if (key in value && !same(value[key], erased)) {
      out ??= { ...value };
      out[key] = Array.isArray(erased) ? [...erased] : erased;
    }
  }
  for (const key of spec.unset) {
    if (value[key] !== undefined) {
      out ??= { ...value };
      delete out[key];
    }
  }
  for (const [key, inner] of Object.entries(spec.nested)) {
    const held = value[key];
    if (held === null || typeof held !== "object" || Array.isArray(held)) continue;
    const redacted = scrub(/** @type {Record<string, unknown>} */ (held), inner);
    if (redacted !== held) {
      out ??= { ...value };
      out[key] = redacted;
    }
  }
  return out ?? value;
}

/**
 * The contact ids an event is directly about, every known type included
 * (core.events.contacts_of; `ContactDetailsSet` names whom they met through).
 * @param {Event} e
 * @returns {string[]}
 */
export function aboutWhom(e) {
  if (e.type !== "ContactDetailsSet") return contactsOf(e);
  const contact = /** @type {string} */ (e.contact_id);
  const through = /** @type {{through?: string | null} | null | undefined} */ (e.met)?.through;
  return through && through !== contact ? [contact, through] : [contact];
}

/**
 * The contact ids an event forgets (none unless it is a `ContactForgotten`).
 * @param {Event} e
 * @returns {string[]}
 */
export function forgottenBy(e) {
  return e.type === "ContactForgotten" && personal(e) ? [.../** @type {string[]} */ (e.contact_ids)] : [];
}

/**
 * Whether an event is about a forgotten contact (`ids`: `forgottenIds`).
 * @param {Event} e
 * @param {Set<string>} ids
 */
export function concerns(e, ids) {
  if (!personal(e)) return false;
  if (e.type === "AskResolved") return ids.has(/** @type {string} */ (e.ask_id));
  if (e.type === "EventRetracted") return ids.has(/** @type {string} */ (e.target_id));
  return aboutWhom(e).some((c) => ids.has(c));
}

/**
 * The ids whose events are forgotten: the contacts and the events about them,
 * so that a later resolution or retraction is recognised without its target.
 * @param {Iterable<Event>} events
 * @param {Set<string>} contacts
 * @returns {Set<string>}
 */
export function forgottenIds(events, contacts) {
  const ids = new Set(contacts);
  /** @type {Event[]} */
  const resolutions = [];
  for (const e of events) {
    if (!personal(e)) continue;
    if (e.type === "AskResolved") resolutions.push(e);
    else if (aboutWhom(e).some((c) => contacts.has(c))) ids.add(e.event_id);
  }
  for (const r of resolutions) if (ids.has(/** @type {string} */ (r.ask_id))) ids.add(r.event_id);
  return ids;
}

/**
 * New events as a log that has forgotten `forgotten` stores them (core.log
 * `_redact_incoming`): the events about forgotten contacts redacted; the ids
 * forgotten once they are stored; and the contacts whose events the whole log
 * must be redacted for (`relog`), empty if none: the contacts a new forget
 * names, and every forgotten id when a late event about someone forgotten may
 * be the target of something stored before it.
 * @param {Event[]} events
 * @param {Set<string>} forgotten
 * @returns {{events: Event[], forgotten: Set<string>, relog: Set<string>}}
 */
export function incoming(events, forgotten) {
  const forgets = events.flatMap(forgottenBy);
  if (!forgotten.size && !forgets.length) return { events, forgotten, relog: new Set() };
  // forgottenIds starts from its contacts: every id forgotten before is in it
  const ids = forgottenIds(events, forgets.length ? new Set([...forgotten, ...forgets]) : forgotten);
  const late = forgotten.size > 0 && ids.size > forgotten.size;
  const relog = new Set([...forgets, ...(late ? ids : [])]);
  return { events: events.map((e) => (concerns(e, ids) ? redact(e) : e)), forgotten: ids, relog };
}

/**
 * A whole log redacted for `contacts` (core.log `_forget`): which of its events
 * change (by index) and the ids forgotten.
 * @param {Event[]} log every stored event, in log order
 * @param {Set<string>} contacts
 * @returns {{changed: Map<number, Event>, ids: Set<string>}}
 */
export function relog(log, contacts) {
  const ids = forgottenIds(log, contacts);
  /** @type {Map<number, Event>} */
  const changed = new Map();
  log.forEach((e, i) => {
    if (!concerns(e, ids)) return;
    const redacted = redact(e);
    if (redacted !== e) changed.set(i, redacted);
  });
  return { changed, ids };
}
