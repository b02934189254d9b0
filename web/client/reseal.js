// Forgetting for an end-to-end encrypted owner, from the browser (ADR 0130,
// ADR 0135; sync/reseal.py): the server cannot redact what it cannot read, so a
// device whose log was redacted (it forgot someone, or pulled a forget) seals
// the redacted events again and sends them as replacements of the rows the
// server holds (`POST /v1/e2e/replace`). Sealing is deterministic and the
// redacted JSON is Python's, so every device sends the very same bytes: sent
// twice, or by two devices, a replacement changes nothing the second time.

import { call } from "./sync.js";

/** @typedef {import("./store.js").Store} Store */
/** @typedef {import("./seal.js").OwnerKey} OwnerKey */

/** Most events sent in one request (the server caps the body's bytes). */
export const REPLACE_BATCH = 1000;

/**
 * Send the sealed redacted events, if the log was redacted since they were
 * last sent to this server (`identity.resealed` counts the redactions sent for).
 * @param {Store} store
 * @param {{server: string, token: string, deviceId: string, key: OwnerKey}} options
 * @returns {Promise<number>} how many rows the server replaced
 */
export async function sendRedacted(store, options) {
  const { redactions } = await store.state();
  const identity = await store.identity();
  if (!redactions || identity.resealed === redactions) return 0;
  const forgotten = new Set(await store.forgotten());
  const { events } = await store.since(0);
  const redacted = events.filter((event) => forgotten.has(event.event_id));
  let replaced = 0;
  for (let i = 0; i < redacted.length; i += REPLACE_BATCH) {
    const sealed = await Promise.all(redacted.slice(i, i + REPLACE_BATCH).map((e) => options.key.seal(e)));
    const body = { device_id: options.deviceId, events: sealed };
    const answer = await call(options.server, "/v1/e2e/replace", { token: options.token, body });
    replaced += answer.replaced;
  }
  await store.updateIdentity((held) => ({ ...held, resealed: redactions }));
  return replaced;
}
