// Small pieces the screens share: links to contacts and phrases about days.

import { h } from "../dom.js";

/** @typedef {import("../../client/views.js").ColdRow} ColdRow */

/**
 * Focus the first control of the action form just opened in `root`.
 * @param {Element} root
 */
export function focusForm(root) {
  const control = /** @type {HTMLElement | null} */ (
    root.querySelector("form.action input, form.action select, form.action textarea")
  );
  control?.focus();
}

/**
 * A link to a contact's screen, its name as text.
 * @param {string} contactId @param {string} name
 */
export function contactLink(contactId, name) {
  return h("a", { href: `#/contact/${encodeURIComponent(contactId)}` }, name);
}

/**
 * "today", "yesterday", "12 days ago" (or "in 3 days" for a date ahead).
 * @param {number} days how many days back
 */
export function daysAgo(days) {
  if (days === 0) return "today";
  if (days === 1) return "yesterday";
  if (days < 0) return `in ${-days} days`;
  return `${days} days ago`;
}

/**
 * Where a contact stands against their cadence, in words.
 * @param {ColdRow} row
 */
export function coldText(row) {
  const since = row.last_touch === null ? "no touch since added" : `last touch ${daysAgo(row.days_since)}`;
  const over = row.overdue_days > 0 ? `, ${row.overdue_days} days overdue` : "";
  return `${since}; every ${row.cadence_days} days${over}`;
}

/**
 * A section with a heading (its accessible name).
 * @param {string} title @param {...(Node | string | null | false)} children
 */
export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...children);
}
