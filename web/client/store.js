// The device's durable state in IndexedDB: its identity, its event log, its
// clock, sequence and pull cursor.
//
// Layout (one database per device, ADR 0090):
// - `events`: one record per event, keyed [device_id, seq] (the sync key; `add`
//   refuses a second event at a key), with `pos`, the order this device learned
//   of it (a unique index, so another tab can read what it has not seen);
// - `meta`: `identity` (device id and name, once enrolled the server, owner
//   and device token, or why the server refused it) and `state` (last own seq,
//   clock, last pos, pull cursor, last acknowledged seq).
//
// Every write is one readwrite transaction over both stores. IndexedDB runs
// readwrite transactions with overlapping scopes one after another, across
// tabs too, so the read-assign-write of a seq is atomic: two tabs of one device
// never assign the same seq, and a pulled page lands with its cursor or not at all.

import { checkEnvelope, payload } from "./events.js";
import { receive, tick } from "./hlc.js";
import { newId } from "./ids.js";

/** @typedef {import("./events.js").Event} Event */
/**
 * @typedef {{device_id: string, device_name: string, server?: string,
 *   owner_id?: string, owner_name?: string, device_token?: string,
 *   refused?: {code: string, message: string}}} Identity
 * @typedef {{last_seq: number, hlc: bigint, pos: number, cursor: number,
 *   acked: number}} State
 * @typedef {{device_id: string, seq: number, pos: number, event: Event}} Row
 */

const VERSION = 1;

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
      const events = db.createObjectStore("events", { keyPath: ["device_id", "seq"] });
      events.createIndex("pos", "pos", { unique: true });
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
   * @returns {Promise<Event[]>}
   */
  async append(drafts, now = Date.now) {
    const bodies = drafts.map((d) => ({ ...d, body: payload(d.type, d.fields) }));
    const identity = await this.identity();
    const tx = this.db.transaction(["meta", "events"], "readwrite");
    const meta = tx.objectStore("meta");
    const events = tx.objectStore("events");
    /** @type {Event[]} */
    const out = [];
    const state = /** @type {State} */ (await done(meta.get("state")));
    const wall = now();
    for (const d of bodies) {
      state.last_seq += 1;
      state.pos += 1;
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
      events.add({ device_id: event.device_id, seq: event.seq, pos: state.pos, event });
      out.push(event);
    }
    meta.put(state, "state");
    await committed(tx);
    return out;
  }

  /**
   * Store one pulled page and the new cursor in one transaction; the clock
   * observes the page (bounded, core/clock.py `receive`).
   * @param {Event[]} pulled
   * @param {number} cursor
   * @param {number | null} acked the server's acknowledgement seen with the page
   * @returns {Promise<number>} the highest pos written (the last one if none)
   */
  async ingest(pulled, cursor, acked) {
    const tx = this.db.transaction(["meta", "events"], "readwrite");
    const meta = tx.objectStore("meta");
    const events = tx.objectStore("events");
    const state = /** @type {State} */ (await done(meta.get("state")));
    let greatest = 0n;
    for (const event of pulled) {
      checkEnvelope(event);
      state.pos += 1;
      events.put({ device_id: event.device_id, seq: event.seq, pos: state.pos, event });
      if (event.hlc > greatest) greatest = event.hlc;
    }
    state.hlc = receive(state.hlc, greatest, Date.now());
    state.cursor = Math.max(state.cursor, cursor);
    if (acked !== null) state.acked = acked;
    meta.put(state, "state");
    await committed(tx);
    return state.pos;
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
   * This device's own events with after < seq <= upTo, in seq order.
   * @param {string} deviceId @param {number} after @param {number} upTo
   * @returns {Promise<Event[]>}
   */
  async own(deviceId, after, upTo) {
    const range = IDBKeyRange.bound([deviceId, after + 1], [deviceId, upTo]);
    const rows = await done(this.db.transaction("events").objectStore("events").getAll(range));
    return rows.map((/** @type {Row} */ r) => r.event);
  }

  /**
   * Every event with pos > after (all of them from 0), and the highest pos read.
   * @param {number} [after]
   * @returns {Promise<{events: Event[], pos: number}>}
   */
  async since(after = 0) {
    const tx = this.db.transaction(["events", "meta"]);
    const state = /** @type {State} */ (await done(tx.objectStore("meta").get("state")));
    const store = tx.objectStore("events");
    const rows = after
      ? await done(store.index("pos").getAll(IDBKeyRange.lowerBound(after, true)))
      : await done(store.getAll());
    return { events: rows.map((/** @type {Row} */ r) => r.event), pos: state.pos };
  }
}
