// The app: one device, the route in the URL's fragment, and the screen that
// route names, drawn from the device's local views.
//
// Routes: `#/today`, `#/contacts`, `#/contact/<id>`, `#/ledger`, `#/stats`,
// `#/enroll`, and `#enroll=<token>` (the link `recip admin add-owner` prints).
// A screen is a function from the app and the route's parameter to a Node; it
// is drawn again whenever the views change (a record here, in another tab, or
// pulled by a sync), except while focus is in one of its forms: then the redraw
// waits until focus leaves the form, so no draft is lost.

import { InvalidEvent } from "../client/index.js";
import { h, replace } from "./dom.js";

/** @typedef {import("../client/device.js").Device} Device */
/** @typedef {{name: string, param: string}} Route */
/** @typedef {(app: App, param: string) => Node} Screen */

/**
 * What a recording came to: the event, or why nothing was recorded.
 * @typedef {{ok: true, event: import("../client/events.js").Event} | {ok: false, error: string}} Outcome
 */

/**
 * The route a fragment names (`today` when it names none).
 * @param {string} hash
 * @returns {Route}
 */
export function parseRoute(hash) {
  const fragment = hash.replace(/^#/, "");
  if (fragment.startsWith("enroll=")) return { name: "enroll", param: fragment.slice("enroll=".length) };
  const [name, ...rest] = fragment.replace(/^\//, "").split("/");
  return { name: name || "today", param: decodeURIComponent(rest.join("/")) };
}

export class App {
  /**
   * @param {Device} device
   * @param {Record<string, Screen>} screens
   * @param {{main: HTMLElement, nav: HTMLElement, flash: HTMLElement}} nodes
   */
  constructor(device, screens, nodes) {
    this.device = device;
    this.screens = screens;
    this.main = nodes.main;
    this.nav = nodes.nav;
    this.flashNode = nodes.flash;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.flashTimer = null;
    /** @type {Route} */
    this.route = parseRoute(location.hash);
    this.stale = false;
    /** Per-screen state kept across redraws (a search query, filters). */
    /** @type {Map<string, Record<string, string>>} */
    this.memory = new Map();
    device.subscribe((change) => {
      if (change.type === "events") this.refresh();
    });
    this.main.addEventListener("focusout", () => {
      // focus moves after the event: look once it has landed
      setTimeout(() => {
        if (this.stale && !this.editing()) this.draw();
      }, 0);
    });
    addEventListener("hashchange", () => this.navigate());
  }

  get views() {
    return this.device.views;
  }

  /** @param {string} screen @returns {Record<string, string>} */
  remember(screen) {
    let kept = this.memory.get(screen);
    if (!kept) this.memory.set(screen, (kept = {}));
    return kept;
  }

  /**
   * Whether the person is in a form of the screen (typing, or on its buttons): a
   * redraw would take the draft, or the form's answer to its submit, away.
   */
  editing() {
    const active = document.activeElement;
    return Boolean(active && this.main.contains(active) && active.closest("form"));
  }

  /** The views changed: draw again now, or once the person leaves the form. */
  refresh() {
    if (this.editing()) this.stale = true;
    else this.draw();
  }

  /** The fragment changed: draw the new screen and move focus to its heading. */
  navigate() {
    this.route = parseRoute(location.hash);
    this.draw();
    const heading = this.main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
    scrollTo(0, 0);
  }

  /** @param {string} hash */
  go(hash) {
    if (location.hash === hash) this.navigate();
    else location.hash = hash;
  }

  draw() {
    this.stale = false;
    const screen = this.screens[this.route.name] ?? this.screens.today;
    const scroll = scrollY;
    const focused = this.main.contains(document.activeElement) ? document.activeElement : null;
    const key = focused && focusKey(focused);
    replace(this.main, screen(this, this.route.param));
    scrollTo(0, scroll);
    if (focused && !this.main.contains(document.activeElement)) {
      // keep the keyboard's place: the same control in the new drawing, else the screen
      const same = [...this.main.querySelectorAll(focused.tagName)].find((e) => focusKey(e) === key);
      (/** @type {HTMLElement | undefined} */ (same) ?? this.main).focus({ preventScroll: true });
    }
    for (const link of this.nav.querySelectorAll("a")) {
      const current = link.getAttribute("href") === `#/${this.route.name}`;
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  /**
   * Say what was just done, in the live region under the tabs, for a while;
   * with `undo`, an Undo button beside it.
   * @param {string} text @param {() => void} [undo]
   */
  flash(text, undo) {
    const button = undo && h("button", { type: "button", class: "link", onclick: () => {
      this.flashNode.textContent = "";
      undo();
    } }, "Undo");
    replace(this.flashNode, text, button ? " " : null, button);
    if (this.flashTimer !== null) clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => replace(this.flashNode), undo ? 10_000 : 6000);
  }

  /**
   * Record a touch with a contact at once; the flash offers to take it back (a retraction).
   * @param {string} contactId @param {string} name
   */
  async touch(contactId, name) {
    const outcome = await this.record("InteractionLogged", { contact_ids: [contactId] });
    if (!outcome.ok) return this.flash(outcome.error);
    this.flash(`Logged a touch with ${name}.`, async () => {
      const undone = await this.record("EventRetracted", { target_id: outcome.event.event_id, reason: "undone" });
      this.flash(undone.ok ? `Took back the touch with ${name}.` : undone.error);
    });
  }

  /**
   * Record one event in the local log (the network is never waited on).
   * @param {string} type @param {Record<string, unknown>} fields
   * @param {{occurredAt?: number, utcOffset?: number}} [when] default: now
   * @returns {Promise<Outcome>}
   */
  async record(type, fields, when = {}) {
    try {
      return { ok: true, event: await this.device.record(type, fields, when) };
    } catch (error) {
      if (error instanceof InvalidEvent) return { ok: false, error: explain(error.message) };
      return { ok: false, error: `Nothing was saved: this device could not write its log (${error}).` };
    }
  }
}

/**
 * What identifies a control across redraws: its tag, accessible label and text.
 * @param {Element} e
 */
function focusKey(e) {
  return `${e.tagName}|${e.getAttribute("aria-label") ?? ""}|${e.textContent ?? ""}`;
}

/** The library's refusal as a sentence a person can act on. */
/** @type {[RegExp, string][]} */
const SENTENCES = [
  [/\.(name|what|text|reason) must not be empty/, "Please fill in the $1: it cannot be empty."],
  [/\.(\w+) must be at most (\d+) characters/, "The $1 is too long: at most $2 characters."],
  [/\.weight must be an integer from 1 to 5/, "The weight must be a whole number from 1 to 5."],
  [/\.cadence_days must be an integer from 1 to 36500/, "The cadence must be a whole number of days, 1 to 36500."],
];

/** @param {string} text */
export function explain(text) {
  for (const [pattern, sentence] of SENTENCES) {
    const m = pattern.exec(text);
    if (m) return sentence.replace("$1", m[1] ?? "").replace("$2", m[2] ?? "");
  }
  return `Nothing was saved: ${text}.`;
}
