// End-to-end encryption of an owner's events in the browser (ADR 0135), the
// same bytes as sync/seal.py and sync/phrase.py, with WebCrypto alone.
//
// - The owner key (32 bytes) gives three subkeys by HKDF-SHA256 (empty salt):
//   the AES-256-GCM key, the nonce key and the key id the server keeps to tell
//   a wrong phrase from the right one.
// - A device seals each event of its own stream when it pushes it: the event's
//   JSON encrypted under the envelope it travels with (associated data), with a
//   nonce derived from that envelope and the plaintext, so sealing is
//   deterministic and a retried push re-sends identical bytes.
// - A pulled `Sealed` event is opened before it is stored; one that does not
//   open (altered, another key, moved to another envelope) is a `SealError`.
// - The recovery phrase is Crockford base32 of the key and 3 bytes of its
//   SHA-256: a typo is caught here, before anything is sent.
//
// The subkeys are non-extractable `CryptoKey`s: they can be kept in IndexedDB
// as they are, and no script can read them back out as bytes.

import { parseWithEvents, stringify } from "./wire.js";

/** @typedef {import("./events.js").Event} Event */
/**
 * The envelope a sealed event travels with (its own event's), and the box.
 * @typedef {{type: "Sealed", event_id: string, device_id: string, seq: number,
 *   hlc: bigint, occurred_at: number, utc_offset: number, v: number,
 *   key_id: string, box: string}} SealedEvent
 * @typedef {{event_id: string, device_id: string, seq: number, hlc: bigint}} Envelope
 * @typedef {{key_id: string, aes: CryptoKey, nonce: CryptoKey, older?: StoredKey[]}} StoredKey
 */

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const CHECK_BYTES = 3;
export const PHRASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/** 35 bytes are 280 bits: 56 characters of 5 bits. */
export const PHRASE_LENGTH = ((KEY_BYTES + CHECK_BYTES) * 8) / 5;
const GROUP = 4;
const INFO_KEY = "reciprocity/v1 aes-256-gcm";
const INFO_NONCE = "reciprocity/v1 nonce";
const INFO_ID = "reciprocity/v1 key id";
const AAD_PREFIX = "reciprocity/v1 sealed";
// core/limits.py: the Millis range (1900-01-01 to the last ms of 2999)
const EARLIEST_MS = -2208988800000;
const LATEST_MS = 32503679999999;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A pulled event this device will not store: altered, under another key, or not sealed. */
export class SealError extends Error {
  name = "SealError";
}

/**
 * What was typed is not the recovery phrase wanted: `kind` says whether it is a
 * typo, not a phrase at all, or a phrase of another key than the owner's.
 */
export class PhraseError extends Error {
  name = "PhraseError";

  /** @param {"typo" | "format" | "wrong"} kind @param {string} message */
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/** @param {Uint8Array} bytes @returns {string} base64 (standard, padded) */
export function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** @param {string} text @returns {Uint8Array} */
export function fromBase64(text) {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** @param {Uint8Array} bytes @returns {string} base64url without padding */
function toBase64Url(bytes) {
  return toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * @param {CryptoKey} hkdf @param {string} info @param {number} bytes
 * @returns {Promise<Uint8Array>}
 */
async function derive(hkdf, info, bytes) {
  const params = { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: utf8.encode(info) };
  return new Uint8Array(await crypto.subtle.deriveBits(params, hkdf, bytes * 8));
}

/** @param {Uint8Array} key @returns {Promise<Uint8Array>} the phrase's checksum */
async function checksum(key) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", key)).subarray(0, CHECK_BYTES);
}

/** @param {Uint8Array} a @param {Uint8Array} b */
function sameBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The recovery phrase of a key, e.g. `7K3M-Q9XA-...` (14 groups of 4).
 * @param {Uint8Array} key
 * @returns {Promise<string>}
 */
export async function encodePhrase(key) {
  if (key.length !== KEY_BYTES) throw new RangeError(`a key has ${KEY_BYTES} bytes`);
  const data = new Uint8Array([...key, ...(await checksum(key))]);
  let text = "";
  let acc = 0;
  let bits = 0;
  for (const byte of data) {
    acc = ((acc << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      text += PHRASE_ALPHABET[(acc >> bits) & 31];
    }
  }
  return (text.match(/.{4}/g) ?? []).join("-");
}

/** @type {Map<string, number>} */
const VALUE = new Map([...PHRASE_ALPHABET].map((c, i) => [c, i]));
VALUE.set("O", 0).set("I", 1).set("L", 1);

/**
 * The key a recovery phrase writes (any case; spaces and dashes anywhere; O for
 * 0, I and L for 1). Throws `PhraseError` saying what is wrong with it.
 * @param {string} phrase
 * @returns {Promise<Uint8Array>}
 */
export async function decodePhrase(phrase) {
  const text = phrase.replace(/[\s-]+/g, "").toUpperCase();
  const bad = [...new Set([...text].filter((c) => !VALUE.has(c)))].sort().join("");
  if (bad) {
    throw new PhraseError("format", `A recovery phrase has only digits and letters (not “${bad}”): check what you typed.`);
  }
  if (text.length !== PHRASE_LENGTH) {
    throw new PhraseError(
      "format",
      `A recovery phrase has ${PHRASE_LENGTH} characters (14 groups of 4), not ${text.length}.`,
    );
  }
  const data = new Uint8Array(KEY_BYTES + CHECK_BYTES);
  let acc = 0;
  let bits = 0;
  let at = 0;
  for (const c of text) {
    acc = ((acc << 5) | /** @type {number} */ (VALUE.get(c))) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      data[at++] = (acc >> bits) & 0xff;
    }
  }
  const key = data.slice(0, KEY_BYTES);
  if (!sameBytes(await checksum(key), data.subarray(KEY_BYTES))) {
    throw new PhraseError("typo", "This recovery phrase has a typo (its checksum does not match): check each group.");
  }
  return key;
}

/** An owner's key: seals this device's events and opens pulled ones. */
export class OwnerKey {
  /**
   * @param {string} keyId @param {CryptoKey} aes @param {CryptoKey} nonce
   * @param {OwnerKey[]} [older] keys this one replaced (a rotation): they open, never seal
   */
  constructor(keyId, aes, nonce, older = []) {
    /** What the server keeps to recognise the key (base64url, 22 characters). */
    this.keyId = keyId;
    this.aes = aes;
    this.nonce = nonce;
    this.older = older;
  }

  /**
   * This device's key once the owner key was rotated to `next` (`recip e2e
   * rotate` on another device): `next` seals, this one and its elders still open.
   * @param {OwnerKey} next
   * @returns {OwnerKey}
   */
  rotatedTo(next) {
    return new OwnerKey(next.keyId, next.aes, next.nonce, [this, ...this.older]);
  }

  /** @param {Uint8Array} key the 32-byte owner key @returns {Promise<OwnerKey>} */
  static async fromBytes(key) {
    if (key.length !== KEY_BYTES) throw new RangeError(`an owner key has ${KEY_BYTES} bytes, not ${key.length}`);
    const hkdf = await crypto.subtle.importKey("raw", key, "HKDF", false, ["deriveBits"]);
    const [aesBytes, nonceBytes, id] = await Promise.all([
      derive(hkdf, INFO_KEY, 32),
      derive(hkdf, INFO_NONCE, 32),
      derive(hkdf, INFO_ID, 16),
    ]);
    const aes = await crypto.subtle.importKey("raw", aesBytes, "AES-GCM", false, ["encrypt", "decrypt"]);
    const hmac = { name: "HMAC", hash: "SHA-256" };
    const nonce = await crypto.subtle.importKey("raw", nonceBytes, hmac, false, ["sign"]);
    return new OwnerKey(toBase64Url(id), aes, nonce);
  }

  /** @param {string} phrase @returns {Promise<OwnerKey>} (`PhraseError` if it is not one) */
  static async fromPhrase(phrase) {
    return OwnerKey.fromBytes(await decodePhrase(phrase));
  }

  /** What IndexedDB keeps (the subkeys as non-extractable `CryptoKey`s). @returns {StoredKey} */
  stored() {
    return { key_id: this.keyId, aes: this.aes, nonce: this.nonce, older: this.older.map((k) => k.stored()) };
  }

  /** @param {StoredKey} held @returns {OwnerKey} */
  static fromStored(held) {
    return new OwnerKey(held.key_id, held.aes, held.nonce, (held.older ?? []).map(OwnerKey.fromStored));
  }

  /** @param {Envelope} e @returns {Uint8Array} the associated data */
  aad(e) {
    return utf8.encode([AAD_PREFIX, this.keyId, e.event_id, e.device_id, `${e.seq}`, `${e.hlc}`].join("\n"));
  }

  /**
   * Seal an event of this device's own stream, for pushing.
   * @param {Event} event
   * @returns {Promise<SealedEvent>}
   */
  async seal(event) {
    if (event.type === "Sealed") throw new SealError(`event ${event.device_id}/${event.seq} is sealed already`);
    return this.sealPlain(utf8.encode(stringify(event)), event);
  }

  /**
   * Seal an event's JSON under the envelope it will travel with.
   * @param {Uint8Array} plain
   * @param {Envelope} e
   * @returns {Promise<SealedEvent>}
   */
  async sealPlain(plain, e) {
    const aad = this.aad(e);
    const input = new Uint8Array(aad.length + 1 + plain.length);
    input.set(aad);
    input.set(plain, aad.length + 1);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", this.nonce, input));
    const iv = mac.slice(0, NONCE_BYTES);
    const params = { name: "AES-GCM", iv, additionalData: aad, tagLength: TAG_BYTES * 8 };
    const body = new Uint8Array(await crypto.subtle.encrypt(params, this.aes, plain));
    const box = new Uint8Array(NONCE_BYTES + body.length);
    box.set(iv);
    box.set(body, NONCE_BYTES);
    const wall = Number(e.hlc >> 16n);
    return {
      type: "Sealed",
      event_id: e.event_id,
      device_id: e.device_id,
      seq: e.seq,
      hlc: e.hlc,
      occurred_at: Math.min(Math.max(wall, EARLIEST_MS), LATEST_MS),
      utc_offset: 0,
      v: 1,
      key_id: this.keyId,
      box: toBase64(box),
    };
  }

  /**
   * The event a pulled sealed event holds; `SealError` if it is not genuine
   * (sealed under this key, authentic for its envelope, holding an event with
   * that same envelope).
   * @param {Event} sealed
   * @returns {Promise<Event>}
   */
  async open(sealed) {
    const where = `event ${sealed.device_id}/${sealed.seq} (${sealed.event_id})`;
    if (sealed.type !== "Sealed") {
      throw new SealError(
        `the server sent ${where} in plain text (${sealed.type}) for an end-to-end encrypted owner; nothing of the page was stored`,
      );
    }
    if (sealed.key_id !== this.keyId) {
      const old = this.older.find((k) => k.keyId === sealed.key_id);
      if (old) return old.open(sealed);
      throw new SealError(
        `${where} is sealed under another key (${sealed.key_id}): if the owner key was rotated on another device, enter its new recovery phrase`,
      );
    }
    let box;
    try {
      box = fromBase64(/** @type {string} */ (sealed.box));
    } catch {
      throw new SealError(`${where} has no valid box`);
    }
    if (box.length < NONCE_BYTES + TAG_BYTES) throw new SealError(`${where} has no valid box`);
    const env = /** @type {Envelope} */ (sealed);
    const params = { name: "AES-GCM", iv: box.subarray(0, NONCE_BYTES), additionalData: this.aad(env), tagLength: TAG_BYTES * 8 };
    let plain;
    try {
      plain = await crypto.subtle.decrypt(params, this.aes, box.subarray(NONCE_BYTES));
    } catch {
      throw new SealError(`${where} does not open with the owner key: it was altered`);
    }
    /** @type {Event} */
    let event;
    try {
      // as a page of one, so that the fast path (JSON.parse, the hlc re-read) reads it
      [event] = parseWithEvents(`[${fromUtf8.decode(plain)}]`);
    } catch (error) {
      throw new SealError(`${where} holds no valid event: ${error}`);
    }
    const same =
      event !== null &&
      typeof event === "object" &&
      event.type !== "Sealed" &&
      event.event_id === sealed.event_id &&
      event.device_id === sealed.device_id &&
      event.seq === sealed.seq &&
      event.hlc === sealed.hlc;
    if (!same) throw new SealError(`${where} holds an event with another envelope`);
    return event;
  }

  /**
   * A pulled page as this device stores it: every event opened, or `SealError`
   * for the first that does not open (then nothing of the page is stored).
   * @param {Event[]} page
   * @returns {Promise<Event[]>}
   */
  async openAll(page) {
    return Promise.all(page.map((event) => this.open(event)));
  }
}

/**
 * A pulled page for a device that holds no owner key: as it is, unless the
 * server sent sealed events (the owner is encrypted: `SealError`).
 * @param {Event[]} page
 * @returns {Event[]}
 */
export function refuseSealed(page) {
  if (page.some((event) => event.type === "Sealed")) {
    throw new SealError(
      "this owner is end-to-end encrypted and this device has no owner key: enroll it again with the recovery phrase",
    );
  }
  return page;
}
