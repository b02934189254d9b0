// The checks `recip` makes before it records (core/commands.py) that the event
// schemas alone do not make, so the app refuses what the CLI refuses, in words.

/** A phone number needs this many digits (core.commands.PHONE_MIN_DIGITS). */
export const PHONE_MIN_DIGITS = 3;
const EMAIL = /^[^@\s]+@[^@\s]+$/;

/**
 * Why a list of email addresses is refused, or null.
 * @param {string[]} emails
 */
export function emailsError(emails) {
  const bad = emails.find((e) => !EMAIL.test(e));
  return bad === undefined ? null : `“${bad}” is not an email address (it needs one @ and no spaces).`;
}

/**
 * Why a list of phone numbers is refused, or null.
 * @param {string[]} phones
 */
export function phonesError(phones) {
  const bad = phones.find((p) => (p.match(/\p{Nd}/gu) ?? []).length < PHONE_MIN_DIGITS);
  return bad === undefined ? null : `“${bad}” is not a phone number: it needs at least ${PHONE_MIN_DIGITS} digits.`;
}

/**
 * When something happened, from a date field: noon that local day (as `recip
 * log --on YYYY-MM-DD`), or now when empty; a sentence when it is not a
 * usable date.
 * @param {string} text "YYYY-MM-DD" or "" @param {Date} now
 * @returns {{occurredAt?: number, utcOffset?: number} | {error: string}}
 */
export function whenOf(text, now) {
  if (!text) return {};
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return { error: "The date must be a day such as 2026-11-20." };
  const noon = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 12);
  if (Number.isNaN(noon.getTime()) || noon.getFullYear() < 1900) return { error: "The date must be a day after 1900." };
  const midnightTomorrow = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
  if (noon >= midnightTomorrow) return { error: "The date is in the future: record what already happened." };
  if (noon > now) return {}; // today, before noon: now
  return { occurredAt: noon.getTime(), utcOffset: -noon.getTimezoneOffset() };
}
