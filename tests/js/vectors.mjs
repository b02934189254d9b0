// What the conformance suites share: the vector files, and the same event set
// folded in several orders (every rule is over the set, so each must agree).
import { readdirSync } from "node:fs";

import { Views } from "../../web/client/views.js";

export const DIR = new URL("../conformance/vectors/", import.meta.url);
export const PLAN_DIR = new URL("plan/", DIR);

/** The JSON files of a folder, sorted. @param {URL} dir */
export const jsonIn = (dir) =>
  readdirSync(dir).filter((f) => f.endsWith(".json")).sort().map((f) => new URL(f, dir));

/** Plain data (no undefined, arrays as arrays) for a strict comparison. */
export const plain = (v) => JSON.parse(JSON.stringify(v));

/**
 * Views of `events` folded at once in their order, and backwards then again
 * (every event twice: no change).
 */
export function foldedTwoWays(events) {
  const inOrder = new Views();
  inOrder.applyAll(events);
  const backwards = new Views();
  backwards.applyAll([...events].reverse());
  backwards.applyAll(events);
  return [inOrder, backwards];
}
