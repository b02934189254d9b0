// JSON as the server speaks it, with `hlc` as a BigInt.
//
// An HLC (ms << 16) exceeds 2^53, so JSON.parse alone would round it. The fast
// path parses natively and re-reads the integers after every `"hlc":` key from
// the text. That key cannot occur inside a JSON string (a quote there is always
// escaped), so when the text holds exactly one such key per event and every
// event has its own, the k-th key is the k-th event's. Anything else (an unknown
// event with a nested "hlc" key, a non-integer) takes the exact path: a small
// parser that keeps every integer beyond 2^53 as a BigInt.

const HLC = /"hlc"\s*:\s*(-?\d+)?([.eE])?/g;

/**
 * Parse a JSON document whose `events` (or the document itself, if an array)
 * are events, giving each event's `hlc` as a BigInt.
 * @param {string} text
 * @returns {any}
 */
export function parseWithEvents(text) {
  const doc = JSON.parse(text);
  const events = Array.isArray(doc) ? doc : doc?.events;
  if (!Array.isArray(events)) return doc;
  const found = [...text.matchAll(HLC)];
  if (
    found.length === events.length &&
    found.every((m) => m[1] !== undefined && m[2] === undefined) &&
    events.every((e) => typeof e?.hlc === "number")
  ) {
    for (let i = 0; i < events.length; i++) events[i].hlc = BigInt(/** @type {string} */ (found[i][1]));
    return doc;
  }
  return normalize(parseExact(text));
}

/** Exact path: hlc fields as BigInt whatever their size. @param {any} doc */
function normalize(doc) {
  const events = Array.isArray(doc) ? doc : doc?.events;
  if (Array.isArray(events)) {
    for (const e of events) {
      if (e && typeof e === "object" && typeof e.hlc === "number") e.hlc = BigInt(e.hlc);
    }
  }
  return doc;
}

/**
 * JSON.parse that keeps integers beyond Number.MAX_SAFE_INTEGER exact (BigInt).
 * @param {string} text
 * @returns {any}
 */
export function parseExact(text) {
  let i = 0;
  const fail = (/** @type {string} */ what) => {
    throw new SyntaxError(`invalid JSON at ${i}: ${what}`);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  /** @returns {any} */
  const value = () => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      /** @type {Record<string, any>} */
      const obj = {};
      ws();
      if (text[i] === "}") return i++, obj;
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a key");
        const key = string();
        ws();
        if (text[i++] !== ":") fail("expected ':'");
        obj[key] = value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") return i++, obj;
        else fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      /** @type {any[]} */
      const arr = [];
      ws();
      if (text[i] === "]") return i++, arr;
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") return i++, arr;
        else fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)/.exec(
      text.slice(i, i + 400),
    );
    if (!literal) fail("unexpected character");
    const token = /** @type {RegExpExecArray} */ (literal)[0];
    i += token.length;
    if (token === "true") return true;
    if (token === "false") return false;
    if (token === "null") return null;
    const number = Number(token);
    if (!literal?.[1] && !literal?.[2] && !Number.isSafeInteger(number)) return BigInt(token);
    return number;
  };
  const string = () => {
    const start = i;
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined) fail("unterminated string");
      if (c === '"') break;
      i += c === "\\" ? 2 : 1;
    }
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const out = value();
  ws();
  if (i !== text.length) fail("trailing characters");
  return out;
}

/**
 * JSON text of a value that may hold BigInts (written as plain integers).
 * @param {unknown} value
 * @returns {string}
 */
export function stringify(value) {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return `[${value.map(stringify).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const parts = [];
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) parts.push(`${JSON.stringify(k)}:${stringify(v)}`);
    }
    return `{${parts.join(",")}}`;
  }
  return JSON.stringify(value);
}
