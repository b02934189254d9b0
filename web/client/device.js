// A browser device: identity, log, views and sync behind one small API.
//
//   const device = await openDevice({ server: location.origin });
//   await device.enroll("recip-enroll-...", "phone");
//   const event = await device.record("InteractionLogged", { contact_ids: [id] });
//   device.views.ledger();            // computed here, from this device's own log
//   device.views.plan();              // the plan for today (ADR 0100), the same way
//   device.subscribe((change) => ...) // "events" when views changed, "status"
//   device.live();                    // sync on pokes, on records, when back online
//
// The views are folded from IndexedDB when the device opens, then kept current
// event by event: records, pulled pages and events written by other tabs of the
// same device (told through a BroadcastChannel) are applied as they land.

import { call, Refusal, sync, TransientError } from "./sync.js";
import { Store } from "./store.js";
import { PokeStream } from "./stream.js";
import { SummaryViews, Views } from "./views.js";

/** @typedef {import("./events.js").Event} Event */
/** @typedef {import("./store.js").Identity} Identity */
/** @typedef {import("./sync.js").SyncSummary} SyncSummary */

/**
 * What the device is doing: `offline` (the server is out of reach; it retries),
 * `refused` (revoked or its token rejected: it never syncs again).
 * @typedef {{state: "new" | "idle" | "syncing" | "offline" | "refused" | "error",
 *   pending: number, message: string, lastSync: number | null, live: boolean}} Status
 * @typedef {{type: "events", events: Event[]} | {type: "status", status: Status}} Change
 */

/** The device's server refuses it (revoked, or its token is no longer valid). */
export class DeviceRefused extends Error {
  name = "DeviceRefused";

  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60_000;
/** The format of saved summaries; bumped whenever the views' meaning or shape changes. */
const SNAPSHOT_VERSION = 1;
/** How long the views stay unchanged before their summaries are saved. */
const SNAPSHOT_DELAY_MS = 2000;

export class Device {
  /**
   * @param {Store} store @param {Identity} identity @param {string} server
   */
  constructor(store, identity, server) {
    this.store = store;
    this.identity = identity;
    this.server = server;
    this.views = new Views();
    /** @type {Set<(change: Change) => void>} */
    this.listeners = new Set();
    this.pos = 0;
    /** How many times the log had been redacted when the views were folded (ADR 0130). */
    this.redactions = 0;
    /** @type {Promise<void>} the last folding step (`serially`) */
    this.folding = Promise.resolve();
    /** @type {Status} */
    this.status = {
      state: identity.refused ? "refused" : identity.device_token ? "idle" : "new",
      pending: 0,
      message: identity.refused?.message ?? "",
      lastSync: null,
      live: false,
    };
    /** @type {Promise<SyncSummary> | null} the sync running now */
    this.running = null;
    /** @type {Promise<SyncSummary> | null} the one asked for meanwhile */
    this.queued = null;
    this.cursor = 0;
    this.retryMs = RETRY_MIN_MS;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.retryTimer = null;
    /** @type {PokeStream | null} */
    this.stream = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.snapshotTimer = null;
    /** The position of the summaries saved last (-1: none known). */
    this.savedPos = -1;
    this.channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(`recip:${store.name}`) : null;
    if (this.channel) this.channel.onmessage = () => void this.catchUp();
    this.onOnline = () => {
      this.stream?.nudge();
      this.retryMs = RETRY_MIN_MS;
      this.schedule();
    };
  }

  get deviceId() {
    return this.identity.device_id;
  }

  get enrolled() {
    return Boolean(this.identity.device_token);
  }

  /** @param {(change: Change) => void} listener @returns {() => void} unsubscribe */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** @param {Change} change */
  emit(change) {
    if (change.type === "events") this.saveSoon();
    for (const listener of this.listeners) listener(change);
  }

  /**
   * Save the summaries once the views have been still for a while, so that the
   * next start can show them at once (`openDevice`'s `onFirstView`).
   * @param {number} [delayMs]
   */
  saveSoon(delayMs = SNAPSHOT_DELAY_MS) {
    if (this.snapshotTimer !== null) clearTimeout(this.snapshotTimer);
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = null;
      void this.serially(async () => {
        if (this.pos === this.savedPos) return;
        const snapshot = { version: SNAPSHOT_VERSION, pos: this.pos, summaries: this.views.summaries() };
        try {
          await this.store.saveSnapshot(snapshot);
          this.savedPos = snapshot.pos;
        } catch {
          // derived data: the next start folds the log instead
        }
      });
    }, delayMs);
  }

  /** @param {Partial<Status>} patch */
  setStatus(patch) {
    this.status = { ...this.status, ...patch };
    this.emit({ type: "status", status: this.status });
  }

  /**
   * Run `step` after the folding steps before it: the views and `pos` move
   * forward one step at a time, whichever tab or sync wrote.
   * @param {() => Promise<void> | void} step
   * @returns {Promise<void>}
   */
  serially(step) {
    const next = this.folding.then(step);
    this.folding = next.catch(() => undefined);
    return next;
  }

  /** Fold the events this tab has not seen yet (written by another tab, or pulled). */
  catchUp() {
    return this.serially(async () => {
      const { events, pos, redactions } = await this.store.since(this.pos);
      if (redactions !== this.redactions) {
        await this.refold(); // events folded before were rewritten (another tab stored a forget)
        await this.refreshPending();
        return;
      }
      if (pos <= this.pos) return;
      this.pos = pos;
      if (this.views.applyAll(events)) this.emit({ type: "events", events });
      await this.refreshPending();
    });
  }

  /**
   * Fold events this tab wrote itself (recorded, or a pulled page) without
   * reading them back, unless another tab wrote in between: then read
   * everything this tab has not seen. Other tabs are told to catch up.
   * @param {Event[]} events as stored
   * @param {number} first
   * @param {number} last
   * @param {boolean} [redacted] events stored before were rewritten (a forget):
   *   the views are folded again from the log
   */
  async received(events, first, last, redacted = false) {
    await this.serially(async () => {
      if (redacted) {
        await this.refold();
      } else if (first === this.pos + 1) {
        this.pos = last;
        if (this.views.applyAll(events)) this.emit({ type: "events", events });
      } else if (last > this.pos) {
        const unseen = await this.store.since(this.pos);
        this.pos = Math.max(this.pos, unseen.pos);
        if (this.views.applyAll(unseen.events)) {
          this.emit({ type: "events", events: unseen.events });
        }
      }
    });
    this.channel?.postMessage("written");
  }

  /**
   * Fold the whole log again into new views: what they held of events since
   * rewritten (forgetting a person, ADR 0130) must not stay in memory.
   */
  async refold() {
    const { events, pos, redactions } = await this.store.since(0);
    const views = new Views();
    views.applyAll(events);
    this.views = views;
    this.pos = pos;
    this.redactions = redactions;
    this.emit({ type: "events", events });
  }

  async refreshPending() {
    const state = await this.store.state();
    this.cursor = state.cursor;
    const pending = Math.max(0, state.last_seq - state.acked);
    if (pending !== this.status.pending) this.setStatus({ pending });
  }

  /**
   * Trade an enrollment token for this device's own token (`POST /v1/enroll`).
   * @param {string} token @param {string} [name]
   */
  async enroll(token, name = "browser") {
    const reply = await call(this.server, "/v1/enroll", {
      body: { token, device_id: this.deviceId, device_name: name },
    });
    this.identity = await this.store.updateIdentity((held) => ({
      ...held,
      device_name: name,
      server: this.server,
      owner_id: reply.owner_id,
      owner_name: reply.owner_name,
      device_token: reply.device_token,
      refused: undefined,
    }));
    this.setStatus({ state: "idle", message: "" });
    return reply;
  }

  /**
   * Record one event of this device; views and other tabs see it at once, the
   * server at the next sync. Throws `InvalidEvent` (nothing recorded) when the
   * fields do not fit the schema.
   * @param {string} type
   * @param {Record<string, unknown>} fields
   * @param {{occurredAt?: number, utcOffset?: number}} [when]
   * @returns {Promise<Event>}
   */
  async record(type, fields, when = {}) {
    const [event] = await this.recordMany([{ type, fields, ...when }]);
    return event;
  }

  /**
   * Record several events atomically (all or none), in order.
   * @param {{type: string, fields: Record<string, unknown>, occurredAt?: number,
   *   utcOffset?: number}[]} drafts
   */
  async recordMany(drafts) {
    const { events, first, last, redacted } = await this.store.append(drafts);
    await this.received(events, first, last, redacted);
    await this.refreshPending();
    if (this.status.live) this.schedule();
    return events;
  }

  /**
   * Push what the server lacks and pull the rest, now. One sync runs at a time
   * across this device's tabs (Web Locks); a call during a sync waits for it and
   * runs once more. Rejects with `TransientError` when the server is out of
   * reach and with `DeviceRefused` once the server refuses this device.
   * @returns {Promise<SyncSummary>}
   */
  sync() {
    if (this.queued) return this.queued;
    if (!this.running) {
      this.running = this.syncNow().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    this.queued = this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.sync();
      });
    return this.queued;
  }

  /** @returns {Promise<SyncSummary>} */
  async syncNow() {
    if (this.identity.refused) {
      throw new DeviceRefused(this.identity.refused.code, this.identity.refused.message);
    }
    const token = this.identity.device_token;
    if (!token) throw new DeviceRefused("not_enrolled", "this device is not enrolled: enroll it first");
    this.setStatus({ state: "syncing" });
    const run = () =>
      sync(this.store, {
        server: this.server,
        token,
        deviceId: this.deviceId,
        onPage: (events, first, last, redacted) => this.received(events, first, last, redacted),
      });
    try {
      const summary = await (navigator.locks
        ? navigator.locks.request(`recip-sync:${this.store.name}`, run)
        : run());
      await this.catchUp();
      this.retryMs = RETRY_MIN_MS;
      this.setStatus({ state: "idle", message: "", lastSync: Date.now() });
      await this.refreshPending();
      return summary;
    } catch (error) {
      await this.catchUp();
      await this.refreshPending();
      if (error instanceof Refusal && error.final) {
        this.identity = await this.store.updateIdentity((held) => ({
          ...held,
          refused: { code: error.code, message: error.message },
        }));
        this.stop();
        this.setStatus({ state: "refused", message: error.message });
        throw new DeviceRefused(error.code, error.message);
      }
      const offline = error instanceof TransientError;
      this.setStatus({ state: offline ? "offline" : "error", message: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  }

  /**
   * Sync after `delayMs` (at once by default, replacing a retry planned for
   * later), and keep retrying with backoff while the server is out of reach.
   * @param {number} [delayMs]
   */
  schedule(delayMs = 0) {
    if (this.identity.refused || !this.enrolled) return;
    if (this.retryTimer !== null) {
      if (delayMs > 0) return; // one is planned already
      clearTimeout(this.retryTimer);
    }
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = null;
      try {
        await this.sync();
      } catch (error) {
        if (error instanceof DeviceRefused || !this.status.live || this.retryTimer !== null) return;
        this.schedule(this.retryMs * (0.5 + Math.random() / 2));
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      }
    }, delayMs);
  }

  /**
   * Stay in sync: listen for pokes (`/v1/stream`), sync after every record and
   * when the browser comes back online, retry with backoff while offline.
   */
  live() {
    if (this.status.live || !this.enrolled || this.identity.refused) return;
    this.setStatus({ live: true });
    this.stream = new PokeStream({
      server: this.server,
      token: () => this.identity.device_token,
      cursor: () => this.cursor,
      onPoke: () => this.schedule(),
      // the sync that follows records the refusal in the server's own words
      onRefused: () => this.schedule(),
    });
    this.stream.start();
    globalThis.addEventListener?.("online", this.onOnline);
    this.schedule();
  }

  /** Stop syncing by itself (records stay local until the next sync). */
  stop() {
    this.stream?.stop();
    this.stream = null;
    globalThis.removeEventListener?.("online", this.onOnline);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.status.live) this.setStatus({ live: false });
  }

  close() {
    this.stop();
    if (this.snapshotTimer !== null) clearTimeout(this.snapshotTimer);
    this.channel?.close();
    this.store.close();
  }
}

/**
 * Open this browser's device (creating its identity on first use) and fold its
 * log into the views.
 * @param {{server?: string, name?: string,
 *   onFirstView?: (views: SummaryViews) => void}} [options]
 *   `server`: the base URL of `recip serve` (default: the page's origin);
 *   `name`: the IndexedDB database; `onFirstView`: called before the log is
 *   folded with the ledger, cold and stats views of the summaries saved at the
 *   last run, if the log has not changed since (a large log opens in a fraction
 *   of the time its fold takes; `device.views` then holds every view).
 * @returns {Promise<Device>}
 */
export async function openDevice(options = {}) {
  const store = await Store.open(options.name ?? "recip");
  const identity = await store.identity();
  const snapshot = await store.snapshot(SNAPSHOT_VERSION);
  if (snapshot && options.onFirstView) options.onFirstView(new SummaryViews(snapshot.summaries));
  const server = identity.server ?? options.server ?? globalThis.location?.origin ?? "";
  const device = new Device(store, identity, server);
  device.savedPos = snapshot?.pos ?? -1;
  await device.catchUp();
  await device.refreshPending();
  return device;
}
