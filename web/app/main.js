// Start the app: open this browser's device (its log in IndexedDB), draw the
// screen in the URL, keep the sync status on screen, sync in the background,
// and register the service worker that lets the app open with no network.

import { openDevice, today } from "../client/index.js";
import { App, parseRoute } from "./app.js";
import { h, replace } from "./dom.js";
import { contactScreen } from "./screens/contact.js";
import { contactsScreen } from "./screens/contacts.js";
import { enrollScreen } from "./screens/enroll.js";
import { ledgerScreen } from "./screens/ledger.js";
import { statsScreen } from "./screens/stats.js";
import { todayPreview, todayScreen } from "./screens/today.js";
import { showStatus } from "./status.js";

const SCREENS = {
  today: todayScreen,
  contacts: contactsScreen,
  contact: contactScreen,
  ledger: ledgerScreen,
  stats: statsScreen,
  enroll: enrollScreen,
};

/** @param {string} id */
function byId(id) {
  return /** @type {HTMLElement} */ (document.getElementById(id));
}

/** Register the worker; say so (with a button) when a new version has taken over. */
function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  const hadController = Boolean(navigator.serviceWorker.controller);
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (!hadController || document.getElementById("update")) return;
    document.querySelector("header.top")?.append(
      h(
        "p",
        { id: "update", class: "update", role: "status" },
        "A new version of the app is ready. ",
        h("button", { type: "button", onclick: () => location.reload() }, "Reload"),
      ),
    );
  });
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
    // without the worker the app still works online; offline it will not open
  });
}

async function start() {
  registerWorker();
  // the log lives only here until it syncs: ask the browser not to evict it under pressure
  void navigator.storage?.persist?.().catch(() => false);
  const main = byId("main");
  const device = await openDevice({
    // a large log takes a while to fold: show who to reach out to from the views
    // saved at the last run meanwhile (read-only until the device is open)
    onFirstView: (views) => {
      if (parseRoute(location.hash).name !== "today") return;
      replace(main, todayPreview(views.cold(today())));
      performance.mark("recip:first-view", { detail: "saved views" });
    },
  });
  const app = new App(device, SCREENS, {
    main,
    nav: /** @type {HTMLElement} */ (document.querySelector("nav.tabs")),
    flash: byId("flash"),
  });
  showStatus(device, byId("sync-status"));
  if (!device.enrolled && !device.identity.refused && !location.hash) {
    history.replaceState(null, "", "#/enroll");
    app.route = { name: "enroll", param: "" };
  }
  app.draw();
  // read by bench/webapp.py: the first thing shown, and the whole app ready
  if (!performance.getEntriesByName("recip:first-view").length) {
    performance.mark("recip:first-view", { detail: "the folded log" });
  }
  performance.mark("recip:ready");
  device.live();
}

start().catch((error) => {
  const main = byId("main");
  main.textContent = `This device could not open its log: ${error}. Reload to try again.`;
});
