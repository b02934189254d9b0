// The sync status, always on screen: online or offline, how many of this
// device's events wait to reach the server, and when it last synced.

import { h, replace } from "./dom.js";

/** @typedef {import("../client/device.js").Device} Device */
/** @typedef {import("../client/device.js").Status} Status */

const LAST_SYNC_KEY = "recip:last-sync";

/**
 * "just now", "5 min ago", "at 14:05", or a date: when the last sync was.
 * @param {number | null} ms @param {number} now
 */
export function ago(ms, now) {
  if (ms === null) return "never";
  const seconds = Math.round((now - ms) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  const when = new Date(ms);
  if (now - ms < 86_400_000) return `at ${when.toTimeString().slice(0, 5)}`;
  return `on ${when.toISOString().slice(0, 10)}`;
}

/**
 * What the status says, as short phrases.
 * @param {Status} status @param {boolean} online @param {number | null} lastSync @param {number} now
 */
export function describeStatus(status, online, lastSync, now) {
  const network = !online
    ? "Offline"
    : status.state === "offline"
      ? "Server out of reach"
      : status.state === "refused"
        ? "Refused by the server"
        : status.state === "new"
          ? "Not enrolled"
          : status.state === "syncing"
            ? "Syncing…"
            : status.state === "error"
              ? "Sync failed"
              : "Online";
  const waiting =
    status.pending === 0
      ? status.state === "new"
        ? "nothing to send"
        : "all sent"
      : `${status.pending} ${status.pending === 1 ? "event" : "events"} waiting`;
  return { network, waiting, last: lastSync === null ? "never synced" : `synced ${ago(lastSync, now)}` };
}

/**
 * Keep `node` showing the device's sync status.
 * @param {Device} device @param {HTMLElement} node
 */
export function showStatus(device, node) {
  /** @type {number | null} */
  let lastSync = Number(localStorage.getItem(LAST_SYNC_KEY)) || null;

  const syncNow = async () => {
    try {
      await device.sync();
    } catch {
      // the status says why (offline, refused)
    }
  };

  // Persistent nodes whose text changes in place: only the network state is a live
  // region (announced when it changes), not the clock that ticks every minute.
  const network = h("span", { class: "network", role: "status" });
  const waiting = h("span", { class: "waiting" });
  const last = h("span", { class: "last" });
  const action = h("span", { class: "action" });
  replace(node, h("span", { class: "dot", "aria-hidden": "true" }), network, waiting, last, action);
  let actionKey = "";

  /** @param {HTMLElement} target @param {string} text */
  const put = (target, text) => {
    if (target.textContent !== text) target.textContent = text;
  };

  const draw = () => {
    const status = device.status;
    if (status.lastSync && status.lastSync !== lastSync) {
      lastSync = status.lastSync;
      localStorage.setItem(LAST_SYNC_KEY, String(lastSync));
    }
    const online = navigator.onLine && status.state !== "offline";
    const said = describeStatus(status, navigator.onLine, lastSync, Date.now());
    node.className = `sync ${online ? "online" : "offline"} state-${status.state}`;
    put(network, said.network);
    put(waiting, said.waiting);
    put(last, said.last);
    const canSync = device.enrolled && status.state !== "refused";
    // a failed sync says why on the Enroll screen (a rotated owner key is taken there)
    const why = canSync && status.state === "error" && status.message !== "";
    const key = canSync ? (why ? "sync-why" : "sync") : status.state;
    if (key !== actionKey) {
      actionKey = key;
      replace(
        action,
        canSync
          ? h("button", { type: "button", class: "link", onclick: syncNow }, "Sync now")
          : h("a", { href: "#/enroll" }, status.state === "refused" ? "Why?" : "Enroll"),
        why ? [" ", h("a", { href: "#/enroll" }, "Why?")] : null,
      );
    }
  };

  device.subscribe((change) => {
    if (change.type === "status") draw();
  });
  addEventListener("online", () => {
    draw();
    // back online: send what waits now, not at the next retry of the backoff
    if (device.enrolled && device.status.live) void syncNow();
  });
  addEventListener("offline", draw);
  setInterval(draw, 30_000);
  draw();
}
