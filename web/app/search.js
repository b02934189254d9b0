// Finding contacts as a person types: every word of the query must be the
// start of some word of the contact (its name, organisation or tags), ignoring
// case and accents, so "jo mu" finds "José Muñoz" and "MUÑ" finds him too.

import { casefold } from "../client/text.js";

/** @typedef {import("../client/views.js").ContactRow} ContactRow */

/**
 * The words of a text, case-folded with accents taken off.
 * @param {string} text
 * @returns {string[]}
 */
export function words(text) {
  const bare = text.normalize("NFKD").replace(/\p{M}/gu, "");
  return casefold(bare)
    .split(/[^\p{L}\p{N}@.+_-]+/u)
    .flatMap((w) => (w.includes("-") || w.includes(".") ? [w, ...w.split(/[-.]/)] : [w]))
    .filter(Boolean);
}

/**
 * Whether a contact matches a query (an empty query matches everyone).
 * @param {string[]} queryWords @param {string[]} contactWords
 */
export function matches(queryWords, contactWords) {
  return queryWords.every((q) => contactWords.some((w) => w.startsWith(q)));
}

/**
 * The words a contact can be found by.
 * @param {ContactRow} row
 */
export function searchable(row) {
  return words([row.name, row.org ?? "", ...row.tags, ...row.emails].join(" "));
}

/**
 * The rows that match a query, a circle and a tag (empty: any), in their order.
 * @param {ContactRow[]} rows
 * @param {{query?: string, circle?: string, tag?: string}} filter
 */
export function filterContacts(rows, filter) {
  const q = words(filter.query ?? "");
  return rows.filter(
    (r) =>
      (!filter.circle || r.circle === filter.circle) &&
      (!filter.tag || r.tags.includes(filter.tag)) &&
      matches(q, searchable(r)),
  );
}
