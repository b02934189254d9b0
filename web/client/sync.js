// The sync exchange of sync/protocol.py and sync/replica.py over fetch, in JSON.
//
// One request pushes this device's unacknowledged events (in seq order, a
// bounded batch) and pulls one page after the cursor; the page is stored with
// its cursor in one transaction. Retrying is always safe: the server skips
// events it holds and answers a gap with the seq it expects. Failures whose
// outcome is unknown (network, 5xx, 429) are `TransientError`s, retried with
// backoff; any other refusal is final and carries the server's code and words.

import { parseWithEvents, stringify } from "./wire.js";

/** @typedef {import("./events.js").Event} Event */
/** @typedef {import("./store.js").Store} Store */

/** Largest page asked for (the server caps it too). */
export const PULL_LIMIT = 5000;
/** Most of our own events sent in one request. */
export const PUSH_BATCH = 2000;
const GAP_RESETS = 3;
const STALLS = 3;

/** The exchange may or may not have reached the server; trying again is safe. */
export class TransientError extends Error {
  name = "TransientError";
}

/** The server refused the request: its status, stable code and message. */
export class Refusal extends Error {
  name = "Refusal";

  /**
   * @param {number} status @param {string} code @param {string} message
   * @param {Record<string, unknown>} [details]
   */
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Whether the server no longer accepts this device (revoked, unknown token). */
  get final() {
    return this.status === 401 || this.status === 403;
  }
}

/**
 * One HTTP call to the server, failures classified.
 * @param {string} server the server's base URL
 * @param {string} path
 * @param {{token?: string, body?: unknown, method?: string, signal?: AbortSignal}} [options]
 * @returns {Promise<any>}
 */
export async function call(server, path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let response;
  try {
    response = await fetch(new URL(path, server), {
      method: options.method ?? (options.body === undefined ? "GET" : "POST"),
      headers,
      body: options.body === undefined ? undefined : stringify(options.body),
      signal: options.signal,
      cache: "no-store",
    });
  } catch (error) {
    throw new TransientError(`cannot reach ${server}: ${error}`);
  }
  let text;
  try {
    text = await response.text();
  } catch (error) {
    throw new TransientError(`connection to ${server} lost: ${error}`);
  }
  if (response.ok) return parseWithEvents(text);
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not an error body: the status says it all
  }
  const refusal = new Refusal(
    response.status,
    body?.error ?? "http_error",
    body?.message ?? `server answered ${response.status}`,
    body ?? {},
  );
  if (response.status >= 500 || response.status === 429) {
    throw new TransientError(`server error ${response.status}: ${refusal.message}`);
  }
  throw refusal;
}

/**
 * @typedef {{pushed: number, pulled: number, cursor: number, acked: number}} SyncSummary
 * @typedef {{server: string, token: string, deviceId: string,
 *   onPage?: (events: Event[], first: number, last: number, redacted: boolean) => void | Promise<void>,
 *   signal?: AbortSignal}} SyncOptions
 */

/**
 * Push everything unacknowledged, pull until nothing more remains.
 * @param {Store} store
 * @param {SyncOptions} options
 * @returns {Promise<SyncSummary>}
 */
export async function sync(store, options) {
  const { server, token, deviceId } = options;
  let { cursor, acked } = await store.state();
  const startAcked = acked;
  let pulled = 0;
  let gapResets = 0;
  let restarted = false;
  let stalled = 0;
  for (;;) {
    const held = (await store.state()).last_seq;
    const events = acked < held ? await store.own(acked, Math.min(held, acked + PUSH_BATCH)) : [];
    const request = { device_id: deviceId, events, cursor, limit: PULL_LIMIT, held_seq: held };
    let reply;
    try {
      reply = await call(server, "/v1/sync", { token, body: request, signal: options.signal });
    } catch (error) {
      if (error instanceof Refusal && error.code === "sequence_gap") {
        const expected = /** @type {number | undefined} */ (error.details.expected_seq);
        gapResets += 1;
        if (expected === undefined || gapResets > GAP_RESETS || expected - 1 === acked) throw error;
        acked = expected - 1; // our hint was stale: resend from there
        continue;
      }
      if (error instanceof Refusal && error.code === "cursor_ahead" && !restarted) {
        restarted = true;
        await store.resetCursor();
        cursor = 0;
        continue;
      }
      throw error;
    }
    const page = /** @type {Event[]} */ (reply.events);
    const moved = reply.cursor > cursor || reply.acked_seq !== acked;
    if (page.length || moved) {
      const stored = await store.ingest(page, reply.cursor, reply.acked_seq);
      pulled += page.length;
      if (page.length) await options.onPage?.(stored.events, stored.first, stored.last, stored.redacted);
    }
    stalled = reply.acked_seq === acked && reply.cursor <= cursor ? stalled + 1 : 0;
    if (stalled > STALLS) {
      throw new Error(`sync makes no progress: the server acknowledges seq ${acked} of ${held}`);
    }
    cursor = Math.max(cursor, reply.cursor);
    acked = reply.acked_seq;
    if (!reply.more && acked >= (await store.state()).last_seq) {
      return { pushed: Math.max(0, acked - startAcked), pulled, cursor, acked };
    }
  }
}
