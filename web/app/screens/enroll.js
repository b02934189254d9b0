// Enroll: trade an enrollment link (or its token) for this device's own token.
// The only screen that waits on the network: enrolling is asking the server.

import { DeviceRefused, PhraseError, Refusal, TransientError } from "../../client/index.js";
import { field, h, message, valueOf } from "../dom.js";

/** @typedef {import("../app.js").App} App */

const PREFIX = "recip-enroll-";

/**
 * The token in what was pasted (a link with `#enroll=TOKEN`, or the token), or
 * a sentence saying why it is not one.
 * @param {string} pasted @param {string} origin this app's origin
 * @returns {{token: string} | {error: string}}
 */
export function readToken(pasted, origin) {
  const text = pasted.trim();
  if (!text) return { error: "Paste the enrollment link (or its token) first." };
  if (text.startsWith(PREFIX)) return { token: text };
  let url;
  try {
    url = new URL(text);
  } catch {
    return { error: `That is not an enrollment link: it looks like ${origin}/#enroll=${PREFIX}…` };
  }
  const token = url.hash.startsWith("#enroll=") ? decodeURIComponent(url.hash.slice("#enroll=".length)) : "";
  if (!token.startsWith(PREFIX)) {
    return { error: `That link holds no enrollment token: it looks like ${origin}/#enroll=${PREFIX}…` };
  }
  if (url.origin !== origin) {
    return { error: `That link is for another server (${url.origin}): open it there to enroll.` };
  }
  return { token };
}

/**
 * What to tell the person when enrolling with (or without) a recovery phrase
 * failed for a reason of the phrase (ADR 0135); null for any other failure.
 * @param {unknown} error
 * @returns {string | null}
 */
export function phraseProblem(error) {
  if (error instanceof PhraseError) {
    return error.kind === "typo"
      ? "The recovery phrase has a typo (its checksum does not match): check each group of 4. Nothing was sent."
      : error.kind === "wrong"
        ? `${error.message} Check the phrase the rotating device showed.`
        : `${error.message} Nothing was sent.`;
  }
  if (!(error instanceof Refusal)) return null;
  switch (error.code) {
    case "phrase_needed":
      return "Your data on this server is end-to-end encrypted: enter its recovery phrase (the 14 groups of 4 shown when encryption was turned on).";
    case "wrong_phrase":
      return "That recovery phrase is not this owner’s: nothing was stored, and the link can still be used. Check the phrase shown when encryption was turned on.";
    case "not_end_to_end":
      return "This owner is not end-to-end encrypted: leave the recovery phrase empty (on its first device, “Encrypt end to end” makes it encrypted).";
    default:
      return null;
  }
}

/** A field for a recovery phrase: not checked for spelling, capitals on phones. */
function phraseInput() {
  return h("textarea", { name: "phrase", rows: 2, autocomplete: "off", autocapitalize: "characters", spellcheck: "false", placeholder: "XXXX-XXXX-… (14 groups of 4)" });
}

/**
 * @param {App} app @param {string} param a token from the link that opened the app
 * @returns {Node}
 */
export function enrollScreen(app, param) {
  const device = app.device;
  const memory = app.remember("enroll");
  if (param) {
    // keep the token out of the address bar and the history
    memory.pasted = param;
    history.replaceState(null, "", "#/enroll");
  }
  const said = message();
  const intro = device.status.state === "refused"
    ? h("p", { class: "note", role: "alert" }, `The server refused this device: ${device.status.message}. Records stay on this device; enroll again with a new link.`)
    : device.enrolled
      ? h("p", { class: "note" }, `This device is enrolled as “${device.identity.device_name}” for ${device.identity.owner_name ?? "its owner"} on ${device.server}${device.identity.owner_key ? ", end-to-end encrypted" : ""}.`)
      : h("p", {}, "Enroll this device with your Reciprocity server to sync it with your other devices. Until then everything you record stays here.");
  const form = h(
    "form",
    { class: "action", "aria-label": "Enroll this device", novalidate: true },
    field("Enrollment link or token", h("input", { name: "pasted", type: "text", value: memory.pasted ?? "", autocomplete: "off" }), "Printed by “recip admin add-owner” on the server"),
    field("Device name", h("input", { name: "name", type: "text", value: memory.name ?? "phone" }), "How this device is listed among your devices"),
    field(
      "Recovery phrase (only if your data is end-to-end encrypted)",
      phraseInput(),
      "Shown once when encryption was turned on. It stays on this device: the server never sees it. Leave it empty otherwise.",
    ),
    h(
      "div",
      { class: "check" },
      h("input", { type: "checkbox", id: "enroll-e2e", name: "e2e" }),
      h("label", { for: "enroll-e2e" }, "Encrypt end to end (the first device of a new owner): make a recovery phrase"),
    ),
    said.node,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Enroll this device")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    said.clear();
    const read = readToken(valueOf(form, "pasted"), location.origin);
    if ("error" in read) return said.say(read.error);
    const name = valueOf(form, "name");
    if (!name) return said.say("Give this device a name, such as “phone”.");
    const encrypt = /** @type {HTMLInputElement} */ (form.elements.namedItem("e2e")).checked;
    if (encrypt && valueOf(form, "phrase")) {
      return said.say("Either join with the recovery phrase you have, or make a new one: not both.");
    }
    said.say("Enrolling…", "done");
    try {
      if (encrypt) await device.enrollEncrypted(read.token, name);
      else await device.enroll(read.token, name, valueOf(form, "phrase"));
    } catch (error) {
      const problem = phraseProblem(error);
      if (problem) {
        said.say(problem);
        /** @type {HTMLElement | null} */ (form.querySelector("[name=phrase]"))?.focus();
        return;
      }
      if (error instanceof TransientError) return said.say("Cannot reach the server: check the connection and try again.");
      if (error instanceof Refusal || error instanceof DeviceRefused) return said.say(`The server refused: ${error.message}.`);
      return said.say(`Enrolling failed: ${error}.`);
    }
    memory.pasted = "";
    device.live();
    app.flash(`Enrolled as “${name}”: syncing in the background.`);
    app.go(encrypt ? "#/enroll" : "#/today"); // the new phrase is shown there
  });
  if (device.enrolled && device.status.state !== "refused") {
    // one browser profile is one device of one owner: its log is that owner's
    const again = memory.pasted
      ? h("p", { role: "alert", class: "message error" }, "This device is enrolled already, so the link was not used. To enroll for another owner, open the link in another browser profile.")
      : null;
    memory.pasted = "";
    const failed = device.status.state === "error" && device.status.message
      ? h("p", { role: "alert", class: "message error" }, `The last sync failed: ${device.status.message}.`)
      : null;
    const pending = device.identity.pending_phrase;
    if (pending) {
      const lead = "Your data is now end-to-end encrypted: the server stores only what it cannot read. Write this phrase down (on paper, or in a password manager) and keep it safe:";
      return h("div", { class: "screen enroll" }, h("h1", {}, "Your recovery phrase"), intro, newPhrase(app, pending, lead));
    }
    const rekey = device.identity.owner_key ? rekeyForm(app) : null;
    return h("div", { class: "screen enroll" }, h("h1", {}, "Enroll"), intro, failed, again, rekey, h("a", { href: "#/today" }, "Back to Today"));
  }
  // an earlier try to make the owner encrypted lost its answer: the key may be the owner's now
  const unsure = device.identity.pending_sent && device.identity.pending_phrase;
  const kept = unsure
    ? newPhrase(app, unsure, "An earlier try to make your data end-to-end encrypted may have reached the server before the connection dropped, so keep its recovery phrase: if this device is refused now, the owner may be encrypted under it already (ask for a new enrollment link, and join with this phrase).")
    : null;
  return h("div", { class: "screen enroll" }, h("h1", {}, "Enroll"), intro, kept, form);
}

/**
 * The form that takes the owner's new key after another device rotated it
 * (`recip e2e rotate`): this device's syncs are refused until then.
 * @param {App} app
 * @returns {Node}
 */
function rekeyForm(app) {
  const device = app.device;
  const said = message();
  const form = h(
    "form",
    { class: "action", "aria-label": "New recovery phrase", novalidate: true },
    h("p", {}, "If the owner key was rotated on another device (“recip e2e rotate”), this device syncs again once it holds the new key."),
    field(
      "New recovery phrase",
      phraseInput(),
      "The phrase the rotating device showed. Older events stay readable with the old key.",
    ),
    said.node,
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Use the new phrase")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    said.clear();
    let changed;
    try {
      changed = await device.rekey(valueOf(form, "phrase"));
    } catch (error) {
      if (error instanceof TransientError) return said.say("Cannot reach the server: check the connection and try again.");
      return said.say(phraseProblem(error) ?? `Taking the new key failed: ${error instanceof Error ? error.message : error}.`);
    }
    if (!changed) return said.say("This device holds that key already.", "done");
    app.flash("This device now holds the owner’s new key: syncing again.");
    app.go("#/today");
    void device.sync().catch(() => undefined);
  });
  return form;
}

/**
 * The phrase of the key this device made, until the person says it is
 * written down (the device then forgets it: no screen shows it again).
 * @param {App} app @param {string} phrase @param {string} lead what it is
 * @returns {Node}
 */
function newPhrase(app, phrase, lead) {
  const done = h("button", { type: "button", class: "primary" }, "I have written it down");
  done.addEventListener("click", async () => {
    await app.device.phraseWrittenDown();
    if (!app.device.enrolled) return app.draw();
    app.flash("Your data is end-to-end encrypted: join your other devices with the phrase.");
    app.go("#/today");
  });
  return h(
    "section",
    { class: "action", "aria-label": "Recovery phrase" },
    h("p", {}, lead),
    h("p", { class: "phrase" }, h("code", {}, phrase)),
    h("p", {}, "Every other device joins with it (“recip remote add URL --token TOKEN --phrase”, or this app’s Enroll screen). It is the only way back to your history if this device is lost: nobody, the server included, can recover it for you."),
    h("div", { class: "buttons" }, done),
  );
}
