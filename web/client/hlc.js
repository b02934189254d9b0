// Hybrid logical clock timestamps, as core/clock.py: one integer,
// physical milliseconds << 16 | a 16-bit logical counter.
//
// Timestamps exceed Number.MAX_SAFE_INTEGER, so they are BigInts here: comparing
// two timestamps stays comparing two integers, exactly as on every other device.

export const LOGICAL_BITS = 16n;
export const LOGICAL_MASK = (1n << LOGICAL_BITS) - 1n;
/** How far ahead of wall time a received timestamp may pull the clock (ms). */
export const MAX_DRIFT_MS = 5 * 60 * 1000;

/**
 * @param {number} physicalMs
 * @param {number} [logical]
 * @returns {bigint}
 */
export function pack(physicalMs, logical = 0) {
  return (BigInt(physicalMs) << LOGICAL_BITS) | BigInt(logical);
}

/**
 * The wall-time part of a timestamp, in Unix milliseconds.
 * @param {bigint} hlc
 * @returns {number}
 */
export function physicalMs(hlc) {
  return Number(hlc >> LOGICAL_BITS);
}

/**
 * The next timestamp for a local event: greater than `last`, close to `wallMs`.
 * @param {bigint} last the greatest timestamp issued or observed so far
 * @param {number} wallMs the wall clock now
 * @returns {bigint}
 */
export function tick(last, wallMs) {
  if (wallMs > physicalMs(last)) return pack(wallMs, 0);
  if ((last & LOGICAL_MASK) < LOGICAL_MASK) return last + 1n;
  return pack(physicalMs(last) + 1, 0);
}

/**
 * The clock after observing another device's timestamp, bounded to `maxDriftMs`
 * past our wall clock: a device whose clock is far ahead cannot drag ours along.
 * @param {bigint} last
 * @param {bigint} remote
 * @param {number} wallMs
 * @param {number} [maxDriftMs]
 * @returns {bigint}
 */
export function receive(last, remote, wallMs, maxDriftMs = MAX_DRIFT_MS) {
  const ceiling = pack(wallMs + maxDriftMs, Number(LOGICAL_MASK));
  const bounded = remote < ceiling ? remote : ceiling;
  return bounded > last ? bounded : last;
}
