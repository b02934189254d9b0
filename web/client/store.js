// The device's durable state in IndexedDB: its identity, its event log, its
// clock, sequence and pull cursor.
//
// Layout (one database per device, ADR 0090):
// - `log`: the events in chunks of up to CHUNK, in the order this device learned
//   of them, each chunk keyed by the position (`pos`) of its first event. One
//   record per event cost IndexedDB several times more to write and to read back
//   (docs/benchmarks.md); a chunk is read and written whole. The last chunk is
//   filled up before a new one starts, so the log stays in full chunks;
// - `own`: this device's own events again, keyed by seq, for pushing (seq >
//   acknowledged) without scanning the log; `add` refuses a seq twice;
// - `meta`: `identity` (device id and name, once enrolled the server, owner
//   and device token, or why the server refused it), `state` (last own seq,
//   clock, last pos, pull cursor, last acknowledged seq, how many times the
//   log was redacted), `forgotten` (the ids whose events are forgotten, ADR
//   0130) and `snapshot` (the view summaries as of a position: derived, shown
//   first at the next start while the log is folded, and only if the log has
//   not moved since).
//
// Forgetting a person (ADR 0130): when the log stores a `ContactForgotten` (its
// own or pulled), the transaction that stores it rewrites every stored event
// about those contacts (`log` and `own`) as core/log.py does, drops the saved
// summaries (they hold names) and counts the redaction, so that every tab folds
// its views again; an event about a forgotten contact stored later is stored
// redacted.
//
// Every write is one readwrite transaction over the stores it touches.
// IndexedDB runs readwrite transactions with overlapping scopes one after
// another, across tabs too, so the read-assign-write of a seq is atomic: two
// tabs of one device never assign the same seq, and a pulled page lands with
// its cursor or not at all.

import { checkEnvelope, payload } from "./events.js";
import { receive, tick } from "./hlc.js";
import { newId } from "./ids.js";
import { incoming, relog } from "./redaction.js";

/** @typedef {import("./events.js").Event} Event */
/**
 * @typedef {{device_id: string, device_name: string, server?: string,
 *   owner_id?: string, owner_name?: string, device_token?: string,
 *   refused?: {code: string, message: string}}} Identity
 * @typedef {{last_seq: number, hlc: bigint, pos: number, cursor: number,
 *   acked: number, redactions?: number}} State
 * @typedef {{first: number, events: Event[]}} Chunk
 * @typedef {{version: number, pos: number,
 *   summaries: import("./views.js").Summary[]}} Snapshot
 */

const VERSION = 1;
/** Events per chunk of the log. */
export const CHUNK = 1000;

/**
 * @template T
 * @param {IDBRequest<T>} request
 * @returns {Promise<T>}
 */
function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** @param {IDBTransaction} tx @returns {Promise<void>} */
function committed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
    tx.onerror = () => reject(tx.error);
  });
}

/**
 * Run `body` over a readwrite transaction; if it throws, abort the transaction,
 * so that no request it had already queued is committed: all or nothing.
 * @template T
 * @param {IDBTransaction} tx
 * @param {() => Promise<T>} body
 * @returns {Promise<T>}
 */
async function atomically(tx, body) {
  try {
    return await body();
  } catch (error) {
    try {
      tx.abort();
    } catch {
      // already finished (it failed on its own): nothing was committed
    }
    throw error;
  }
}

/** @returns {State} */
function initialState() {
  return { last_seq: 0, hlc: 0n, pos: 0, cursor: 0, acked: 0 };
}

export class Store {
  /** @param {IDBDatabase} db @param {string} name */
  constructor(db, name) {
    this.db = db;
    this.name = name;
  }

  /**
   * Open (or create) the device database `name`; a new device gets its id here.
   * @param {string} name
   * @param {IDBFactory} [factory]
   */
  static async open(name, factory = indexedDB) {
    const request = factory.open(name, VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("log", { keyPath: "first" });
      db.createObjectStore("own");
      db.createObjectStore("meta");
    };
    const store = new Store(await done(request), name);
    const tx = store.db.transaction("meta", "readwrite");
    const meta = tx.objectStore("meta");
    const identity = await done(meta.get("identity"));
    if (!identity) {
      meta.put({ device_id: newId(), device_name: "browser" }, "identity");
      meta.put(initialState(), "state");
    }
    await committed(tx);
    return store;
  }

  close() {
    this.db.close();
  }

  /** @returns {Promise<Identity>} */
  async identity() {
    return done(this.db.transaction("meta").objectStore("meta").get("identity"));
  }

  /** @param {(identity: Identity) => Identity} change @returns {Promise<Identity>} */
  async updateIdentity(change) {
    const tx = this.db.transaction("meta", "readwrite");
    const meta = tx.objectStore("meta");
    const next = change(await done(meta.get("identity")));
    meta.put(next, "identity");
    await committed(tx);
    return next;
  }

  /** @returns {Promise<State>} */
  async state() {
    return done(this.db.transaction("meta").objectStore("meta").get("state"));
  }

  /**
   * Record new events of this device: each gets the next seq and an HLC tick in
   * the transaction that stores it (all or none).
   * @param {{type: string, fields: Record<string, unknown>, occurredAt?: number,
   *   utcOffset?: number}[]} drafts
   * @param {() => number} [now]
   * @returns {Promise<{events: Event[], first: number, last: number, redacted: boolean}>}
   *   the events as stored, the positions they took in the log, and whether
   *   events stored before were rewritten (a forget: ADR 0130)
   */
  async append(drafts, now = Date.now) {
    const bodies = drafts.map((d) => ({ ...d, body: payload(d.type, d.fields) }));
    const identity = await this.identity();
    const tx = this.db.transaction(["meta", "log", "own"], "readwrite");
    return atomically(tx, async () => {
      const meta = tx.objectStore("meta");
      const own = tx.objectStore("own");
      /** @type {Event[]} */
      const out = [];
      const state = /** @type {State} */ (await done(meta.get("state")));
      const wall = now();
      for (const d of bodies) {
        state.last_seq += 1;
        state.hlc = tick(state.hlc, wall);
        const occurred = d.occurredAt ?? wall;
        /** @type {Event} */
        const event = {
          type: d.type,
          event_id: newId(wall),
          device_id: identity.device_id,
          seq: state.last_seq,
          hlc: state.hlc,
          occurred_at: occurred,
          utc_offset: d.utcOffset ?? -new Date(occurred).getTimezoneOffset(),
          v: 1,
          ...d.body,
        };
        checkEnvelope(event);
        out.push(event);
      }
      const { events, redacted } = await this.forgetting(tx, state, out, identity.device_id);
      for (const event of events) own.add(event, event.seq);
      const first = state.pos + 1;
      await this.write(tx, state, events);
      await committed(tx);
      return { events, first, last: state.pos, redacted };
    });
  }

  /**
   * Store one pulled page and the new cursor in one transaction; the clock
   * observes the page (bounded, core/clock.py `receive`).
   * @param {Event[]} pulled
   * @param {number} cursor
   * @param {number | null} acked the server's acknowledgement seen with the page
   * @returns {Promise<{events: Event[], first: number, last: number, redacted: boolean}>}
   *   the page as stored, the positions it took, and whether events stored
   *   before were rewritten (a forget: ADR 0130)
   */
  async ingest(pulled, cursor, acked) {
    const identity = await this.identity();
    const tx = this.db.transaction(["meta", "log", "own"], "readwrite");
    return atomically(tx, async () => {
      const meta = tx.objectStore("meta");
      const state = /** @type {State} */ (await done(meta.get("state")));
      let greatest = 0n;
      for (const event of pulled) {
        checkEnvelope(event);
        if (event.hlc > greatest) greatest = event.hlc;
      }
      state.hlc = receive(state.hlc, greatest, Date.now());
      state.cursor = Math.max(state.cursor, cursor);
      if (acked !== null) state.acked = acked;
      const { events, redacted } = await this.forgetting(tx, state, pulled, identity.device_id);
      const first = state.pos + 1;
      await this.write(tx, state, events);
      await committed(tx);
      return { events, first, last: state.pos, redacted };
    });
  }

  /**
   * New events as this log stores them, in `tx` (core/log.py): those about a
   * forgotten contact redacted; and when they forget someone (or a late one
   * may be the target of an event stored before), every stored event about
   * them rewritten, in `log` and `own`, the saved summaries dropped and the
   * redaction counted in `state`.
   * @param {IDBTransaction} tx over meta, log and own
   * @param {State} state
   * @param {Event[]} events
   * @param {string} deviceId this device (whose events `own` holds)
   * @returns {Promise<{events: Event[], redacted: boolean}>}
   */
  async forgetting(tx, state, events, deviceId) {
    const meta = tx.objectStore("meta");
    const held = new Set(/** @type {string[] | undefined} */ (await done(meta.get("forgotten"))) ?? []);
    const stored = incoming(events, held);
    if (!stored.relog.size) {
      if (stored.forgotten.size > held.size) meta.put([...stored.forgotten].sort(), "forgotten");
      return { events: stored.events, redacted: false };
    }
    const log = tx.objectStore("log");
    const chunks = /** @type {Chunk[]} */ (await done(log.getAll()));
    const { changed, ids } = relog([...chunks.flatMap((c) => c.events), ...stored.events], stored.relog);
    /** @type {Set<Chunk>} */
    const touched = new Set();
    let start = 0;
    for (const chunk of chunks) {
      for (let i = 0; i < chunk.events.length; i++) {
        const redacted = changed.get(start + i);
        if (!redacted) continue;
        chunk.events[i] = redacted;
        touched.add(chunk);
        if (redacted.device_id === deviceId) tx.objectStore("own").put(redacted, redacted.seq);
      }
      start += chunk.events.length;
    }
    for (const chunk of touched) log.put(chunk);
    const out = stored.events.map((e, i) => changed.get(start + i) ?? e);
    meta.put([...new Set([...stored.forgotten, ...ids])].sort(), "forgotten");
    meta.delete("snapshot"); // summaries of the old log: they hold what was just forgotten
    state.redactions = (state.redactions ?? 0) + 1;
    return { events: out, redacted: true };
  }

  /**
   * Append events to the log in `tx`: fill the last chunk, then new ones; move
   * `state.pos` past them and store `state`.
   * @param {IDBTransaction} tx
   * @param {State} state
   * @param {Event[]} events
   */
  async write(tx, state, events) {
    const log = tx.objectStore("log");
    let rest = events;
    const cursor = await done(log.openCursor(null, "prev"));
    const tail = /** @type {Chunk | undefined} */ (cursor?.value);
    if (tail && tail.events.length < CHUNK && rest.length) {
      const room = CHUNK - tail.events.length;
      log.put({ first: tail.first, events: [...tail.events, ...rest.slice(0, room)] });
      rest = rest.slice(room);
    }
    let pos = state.pos + events.length - rest.length;
    for (let i = 0; i < rest.length; i += CHUNK) {
      log.put({ first: pos + 1, events: rest.slice(i, i + CHUNK) });
      pos += Math.min(CHUNK, rest.length - i);
    }
    state.pos += events.length;
    tx.objectStore("meta").put(state, "state");
  }

  /**
   * Start pulling again from the server's first position (it was restored from
   * an older backup: ADR 0030).
   */
  async resetCursor() {
    const tx = this.db.transaction("meta", "readwrite");
    const meta = tx.objectStore("meta");
    const state = /** @type {State} */ (await done(meta.get("state")));
    state.cursor = 0;
    meta.put(state, "state");
    await committed(tx);
  }

  /**
   * The saved view summaries, if they are of the log as it stands.
   * @param {number} version the summaries' format the caller reads
   * @returns {Promise<Snapshot | null>}
   */
  async snapshot(version) {
    const tx = this.db.transaction("meta");
    const meta = tx.objectStore("meta");
    const [state, snapshot] = await Promise.all([done(meta.get("state")), done(meta.get("snapshot"))]);
    const current = snapshot && snapshot.version === version && snapshot.pos === state.pos;
    return current ? snapshot : null;
  }

  /**
   * Save view summaries computed at `snapshot.pos`, unless the log moved since.
   * @param {Snapshot} snapshot
   */
  async saveSnapshot(snapshot) {
    const tx = this.db.transaction("meta", "readwrite");
    const meta = tx.objectStore("meta");
    const state = /** @type {State} */ (await done(meta.get("state")));
    if (state.pos === snapshot.pos) meta.put(snapshot, "snapshot");
    await committed(tx);
  }

  /**
   * This device's own events with after < seq <= upTo, in seq order.
   * @param {number} after
   * @param {number} upTo
   * @returns {Promise<Event[]>}
   */
  async own(after, upTo) {
    const range = IDBKeyRange.bound(after + 1, upTo);
    return done(this.db.transaction("own").objectStore("own").getAll(range));
  }

  /**
   * Every event at a position after `after` (all of them from 0), and the last
   * position: one read transaction, so the two agree.
   * @param {number} [after]
   * @returns {Promise<{events: Event[], pos: number, redactions: number}>}
   */
  async since(after = 0) {
    const tx = this.db.transaction(["log", "meta"]);
    const state = /** @type {State} */ (await done(tx.objectStore("meta").get("state")));
    // a chunk holds at most CHUNK events: one starting earlier ends at or before `after`
    const range = IDBKeyRange.lowerBound(Math.max(0, after - CHUNK + 1));
    const chunks = /** @type {Chunk[]} */ (await done(tx.objectStore("log").getAll(range)));
    /** @type {Event[]} */
    const events = [];
    for (const chunk of chunks) {
      const skip = Math.max(0, after + 1 - chunk.first);
      if (skip === 0) events.push(...chunk.events);
      else events.push(...chunk.events.slice(skip));
    }
    return { events, pos: state.pos, redactions: state.redactions ?? 0 };
  }

  /**
   * The ids whose events this log has forgotten (ADR 0130).
   * @returns {Promise<string[]>}
   */
  async forgotten() {
    return (await done(this.db.transaction("meta").objectStore("meta").get("forgotten"))) ?? [];
  }
}
