// Text as Python treats it, so that orders and summaries match the reference
// views byte for byte: case folding (`str.casefold`), comparison by code point
// (JavaScript compares UTF-16 units), and `repr` of strings and tuples.

import { FOLDS } from "./casefold.js";

/**
 * Python's `str.casefold` (full Unicode case folding; the table is generated
 * from Python by tests/conformance/generate.py).
 * @param {string} s
 * @returns {string}
 */
export function casefold(s) {
  // ASCII folds by lowercasing alone
  if (/^[\x00-\x7f]*$/.test(s)) return s.toLowerCase();
  let out = "";
  for (const ch of s) out += FOLDS[ch] ?? ch;
  return out;
}

/**
 * Compare two strings by code point, as Python does: -1, 0 or 1.
 * @param {string} a
 * @param {string} b
 * @returns {number}
 */
export function compare(a, b) {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      // surrogates (astral code points) sort after the rest of the BMP
      if (x >= 0xd800 && y >= 0xd800) {
        x = x < 0xe000 ? x + 0x2000 : x - 0x800;
        y = y < 0xe000 ? y + 0x2000 : y - 0x800;
      }
      return x < y ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/**
 * The first `n` code points of a string (Python's `s[:n]`).
 * @param {string} s
 * @param {number} n
 */
export function head(s, n) {
  if (/^[\x00-\x7f]*$/.test(s)) return s.slice(0, n);
  return Array.from(s).slice(0, n).join("");
}

const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/**
 * Python's `repr` of a str.
 * @param {string} s
 * @returns {string}
 */
export function reprStr(s) {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = /** @type {number} */ (ch.codePointAt(0));
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (cp < 0x7f || !NON_PRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xff) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, "0")}`;
    else out += `\\U${cp.toString(16).padStart(8, "0")}`;
  }
  return out + quote;
}

/**
 * Python's `repr` of a value of an event field: str, int, None, or a tuple of str.
 * @param {unknown} v
 * @returns {string}
 */
export function repr(v) {
  if (v === null || v === undefined) return "None";
  if (typeof v === "string") return reprStr(v);
  if (Array.isArray(v)) {
    if (v.length === 1) return `(${repr(v[0])},)`;
    return `(${v.map(repr).join(", ")})`;
  }
  if (typeof v === "boolean") return v ? "True" : "False";
  return String(v);
}
