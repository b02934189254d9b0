// The event schemas of core/events.py: one envelope, twelve types, the same
// field names and limits, so that an event recorded here decodes on the server
// and on every other device. An event is a plain object, as on the JSON wire,
// with its `hlc` as a BigInt.

/**
 * @typedef {{type: string, event_id: string, device_id: string, seq: number,
 *   hlc: bigint, occurred_at: number, utc_offset: number, v: number,
 *   [field: string]: unknown}} Event
 */

export const CIRCLES = ["inner", "close", "wider", "distant", "none"];
export const CHANNELS = ["call", "meeting", "message", "email", "event", "other"];
export const INITIATORS = ["me", "them"];
export const OUTCOMES = ["granted", "declined", "withdrawn", "unanswered"];
export const GIVE_KINDS = ["advice", "referral", "favour", "gift", "support", "other"];

/** Default cadence in days of each circle; `none` never goes cold. */
/** @type {Record<string, number | null>} */
export const CIRCLE_CADENCE = { inner: 14, close: 30, wider: 90, distant: 180, none: null };

const MAX_INT64 = (1n << 63n) - 1n;

/**
 * A field's rule: what it accepts, its default (`undefined`: required, or for an
 * edit, unset), and whether it may be left out (edits).
 * @typedef {{check: (v: unknown) => string | null, default?: unknown, optional?: boolean}} Field
 */

/** @param {unknown} v @param {number} min @param {number} max */
function textError(v, min, max) {
  if (typeof v !== "string") return "must be a string";
  if (v.length < min) return "must not be empty"; // min is 0 or 1: units or code points alike
  // msgspec counts code points; counting them is needed only past the limit in units
  if (v.length > max && [...v].length > max) return `must be at most ${max} characters`;
  return null;
}

/** @param {number} min @param {number} max @returns {(v: unknown) => string | null} */
const text = (min, max) => (v) => textError(v, min, max);
/** @param {string[]} allowed @returns {(v: unknown) => string | null} */
const oneOf = (allowed) => (v) =>
  typeof v === "string" && allowed.includes(v) ? null : `must be one of ${allowed.join(", ")}`;
/** @param {number} min @param {number} max @returns {(v: unknown) => string | null} */
const int = (min, max) => (v) =>
  Number.isSafeInteger(v) && /** @type {number} */ (v) >= min && /** @type {number} */ (v) <= max
    ? null
    : `must be an integer from ${min} to ${max}`;
/** @param {(v: unknown) => string | null} inner @returns {(v: unknown) => string | null} */
const nullable = (inner) => (v) => (v === null ? null : inner(v));
/**
 * @param {(v: unknown) => string | null} item @param {number} min @param {number} max
 * @returns {(v: unknown) => string | null}
 */
const list = (item, min, max) => (v) => {
  if (!Array.isArray(v)) return "must be a list";
  if (v.length < min || v.length > max) return `must hold ${min} to ${max} items`;
  for (const x of v) {
    const error = item(x);
    if (error) return `item ${JSON.stringify(x)} ${error}`;
  }
  return null;
};

const id = text(1, 64);
const name = text(1, 500);
const note = text(0, 20_000);
const what = text(1, 2000);
const strings = list(text(1, 500), 0, Infinity);
const weight = int(1, 5);
const cadence = nullable(int(1, 36_500));

/** @type {Record<string, Record<string, Field>>} */
export const SCHEMAS = {
  ContactAdded: {
    name: { check: name },
    emails: { check: strings, default: [] },
    phones: { check: strings, default: [] },
    org: { check: nullable(text(0, Infinity)), default: null },
    tags: { check: strings, default: [] },
    circle: { check: oneOf(CIRCLES), default: "wider" },
    cadence_days: { check: cadence, default: null },
    source: { check: nullable(text(0, Infinity)), default: null },
  },
  ContactEdited: {
    contact_id: { check: id },
    name: { check: name, optional: true },
    emails: { check: strings, optional: true },
    phones: { check: strings, optional: true },
    org: { check: nullable(text(0, Infinity)), optional: true },
    tags: { check: strings, optional: true },
    circle: { check: oneOf(CIRCLES), optional: true },
    cadence_days: { check: cadence, optional: true },
  },
  ContactArchived: { contact_id: { check: id } },
  ContactRestored: { contact_id: { check: id } },
  ContactsMerged: { survivor_id: { check: id }, absorbed_id: { check: id } },
  InteractionLogged: {
    contact_ids: { check: list(id, 1, 100) },
    channel: { check: oneOf(CHANNELS), default: "other" },
    initiated_by: { check: oneOf(INITIATORS), default: "me" },
    note: { check: note, default: "" },
  },
  AskMade: { contact_id: { check: id }, what: { check: what }, weight: { check: weight, default: 1 } },
  AskResolved: {
    ask_id: { check: id },
    outcome: { check: oneOf(OUTCOMES) },
    note: { check: note, default: "" },
  },
  GiveMade: {
    contact_id: { check: id },
    what: { check: what },
    kind: { check: oneOf(GIVE_KINDS), default: "other" },
    weight: { check: weight, default: 1 },
  },
  IntroductionMade: {
    contact_ids: { check: list(id, 2, 2) },
    note: { check: note, default: "" },
    weight: { check: weight, default: 1 },
  },
  NoteAdded: { contact_id: { check: id }, text: { check: text(1, 20_000) } },
  EventRetracted: { target_id: { check: id }, reason: { check: what } },
  // Forgetting a person (ADR 0130): ids only; every replica redacts the events
  // about them (redaction.js).
  ContactForgotten: { contact_ids: { check: list(id, 1, 1000) } },
};

/** Current schema version of each type (core.events.SCHEMA_VERSION). */
/** @type {Record<string, number>} */
export const SCHEMA_VERSION = Object.fromEntries(Object.keys(SCHEMAS).map((t) => [t, 1]));

/** Thrown for an event that would not decode on the server: nothing is recorded. */
export class InvalidEvent extends Error {
  name = "InvalidEvent";
}

/**
 * Whether this build interprets the event; others (newer types or versions) are
 * kept, stored and shown nowhere (ADR 0033).
 * @param {{type: string, v?: number}} event
 */
export function isKnown(event) {
  return KNOWN.get(event.type) === (event.v ?? 1);
}

/** SCHEMA_VERSION as a Map: looked up once per event folded. */
const KNOWN = new Map(Object.entries(SCHEMA_VERSION));

/**
 * Types this build reads but does not record, with their version: of
 * ContactDetailsSet (ADR 0086) the fold reads the birthday and occasions, the
 * dates the plan for today mentions (plan.js, ADR 0100).
 */
const READ_ONLY = new Map([["ContactDetailsSet", 1]]);

/**
 * Whether the fold takes the event into account: a known type, or a type it
 * only reads (`READ_ONLY`). Either way it counts in "one event per id".
 * @param {{type: string, v?: number}} event
 */
export function isFolded(event) {
  const v = event.v ?? 1;
  return KNOWN.get(event.type) === v || READ_ONLY.get(event.type) === v;
}

/**
 * The payload of a new event of `type`: the given fields checked against the
 * schema, defaults filled in (so the stored event is complete, as msgspec writes
 * it). Throws `InvalidEvent` naming the field.
 * @param {string} type
 * @param {Record<string, unknown>} fields
 * @returns {Record<string, unknown>}
 */
export function payload(type, fields) {
  const schema = SCHEMAS[type];
  if (!schema) throw new InvalidEvent(`unknown event type ${JSON.stringify(type)}`);
  for (const key of Object.keys(fields)) {
    if (!(key in schema)) throw new InvalidEvent(`${type} has no field ${JSON.stringify(key)}`);
  }
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [key, field] of Object.entries(schema)) {
    let value = fields[key];
    if (value === undefined) {
      if (field.optional) continue;
      if (field.default === undefined) throw new InvalidEvent(`${type}.${key} is required`);
      value = Array.isArray(field.default) ? [] : field.default;
    }
    const error = field.check(value);
    if (error) throw new InvalidEvent(`${type}.${key} ${error}`);
    out[key] = Array.isArray(value) ? [...value] : value;
  }
  const pair = SAME_CONTACT[type]?.(out);
  if (pair && pair[0] === pair[1]) throw new InvalidEvent(`${type}.${pair[2]}`);
  return out;
}

/**
 * Rules across fields (core.events `__post_init__`): the two ids that must differ,
 * and the words naming the field.
 * @type {Record<string, (p: Record<string, unknown>) => [unknown, unknown, string]>}
 */
const SAME_CONTACT = {
  IntroductionMade: (p) => {
    const ids = /** @type {string[]} */ (p.contact_ids);
    return [ids[0], ids[1], "contact_ids must name two different contacts"];
  },
  ContactsMerged: (p) => [p.survivor_id, p.absorbed_id, "absorbed_id must differ from survivor_id"],
};

/**
 * Throws `InvalidEvent` unless the envelope is one the server accepts.
 * @param {Event} e
 */
export function checkEnvelope(e) {
  const problems = [
    ["event_id", id(e.event_id)],
    ["device_id", id(e.device_id)],
    ["seq", int(0, Number.MAX_SAFE_INTEGER)(e.seq)],
    ["occurred_at", int(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)(e.occurred_at)],
    ["utc_offset", int(-1080, 1080)(e.utc_offset)],
    ["v", int(1, Number.MAX_SAFE_INTEGER)(e.v)],
    ["hlc", typeof e.hlc === "bigint" && e.hlc >= 0n && e.hlc <= MAX_INT64 ? null : "bad"],
  ];
  for (const [key, error] of problems) {
    if (error) throw new InvalidEvent(`${e.type} event ${key} ${error}`);
  }
}

/**
 * The ids of the contacts an event is directly about (before merges).
 * @param {Event} e
 * @returns {string[]}
 */
export function contactsOf(e) {
  switch (e.type) {
    case "ContactAdded":
      return [e.event_id];
    case "ContactEdited":
    case "ContactArchived":
    case "ContactRestored":
    case "AskMade":
    case "GiveMade":
    case "NoteAdded":
      return [/** @type {string} */ (e.contact_id)];
    case "InteractionLogged":
    case "IntroductionMade":
      return [.../** @type {string[]} */ (e.contact_ids)];
    case "ContactsMerged":
      return [/** @type {string} */ (e.survivor_id), /** @type {string} */ (e.absorbed_id)];
    default:
      return [];
  }
}
