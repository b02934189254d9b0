// The forms that record events. Each checks what a person can get wrong and
// says why in a sentence next to the form; nothing is recorded unless the whole
// form is good. A form's submit records one event in the local log: the
// network is never waited on.

import { CHANNELS, CIRCLES, GIVE_KINDS, OUTCOMES } from "../client/index.js";
import { CIRCLE_CADENCE } from "../client/events.js";
import { casefold } from "../client/text.js";
import { field, h, message, select, valueOf } from "./dom.js";
import { emailsError, phonesError, whenOf } from "./rules.js";

/** @typedef {import("./app.js").App} App */
/** @typedef {import("./app.js").Outcome} Outcome */
/** @typedef {import("../client/fold.js").Contact} Contact */

/**
 * A form whose submit runs `act`; `act` answers a refusal (a sentence) or
 * null when it recorded, and the form then says `done` to the whole app.
 * @param {{label: string, submit: string, children: Node[], done: string,
 *   act: (form: HTMLFormElement) => Promise<string | null>, onDone?: () => void,
 *   app: App, cancel?: () => void, danger?: boolean}} spec
 */
export function actionForm(spec) {
  const said = message();
  const form = h(
    "form",
    { class: "action", "aria-label": spec.label, novalidate: true },
    ...spec.children,
    said.node,
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "submit", class: spec.danger ? "primary danger" : "primary" }, spec.submit),
      spec.cancel && h("button", { type: "button", onclick: spec.cancel }, "Cancel"),
    ),
  );
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && spec.cancel) spec.cancel();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    said.clear();
    const refusal = await spec.act(form);
    if (refusal) {
      said.say(refusal);
      return;
    }
    spec.app.flash(spec.done);
    spec.onDone?.();
  });
  return form;
}

/** @param {Outcome} outcome */
const refusalOf = (outcome) => (outcome.ok ? null : outcome.error);

/** @param {string} text */
const list = (text) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * A whole number from 1 to 5 read from a form, or a sentence saying what is wrong.
 * @param {HTMLFormElement} form
 */
function weightOf(form) {
  const text = valueOf(form, "weight") || "1";
  const weight = Number(text);
  return Number.isInteger(weight) && weight >= 1 && weight <= 5 ? weight : null;
}

const weightInput = () =>
  field(
    "Weight",
    h("input", { name: "weight", type: "number", min: 1, max: 5, value: 1, inputmode: "numeric" }),
    "1 (small) to 5 (large)",
  );

/**
 * @param {App} app @param {string} contactId @param {string} name
 * @param {{onDone?: () => void, cancel?: () => void}} [how]
 */
export function logForm(app, contactId, name, how = {}) {
  return actionForm({
    app,
    ...how,
    label: `Log an interaction with ${name}`,
    submit: "Log interaction",
    done: `Logged an interaction with ${name}.`,
    children: [
      field("Channel", select("channel", CHANNELS.map((c) => [c, c]), "message")),
      field("Who reached out", select("initiated_by", [["me", "I did"], ["them", "They did"]], "me")),
      field("When", h("input", { name: "on", type: "date" }), "Empty: now"),
      field("Note", h("textarea", { name: "note", rows: 2 })),
    ],
    act: async (form) => {
      const when = whenOf(valueOf(form, "on"), new Date());
      if ("error" in when) return when.error;
      const fields = {
        contact_ids: [contactId],
        channel: valueOf(form, "channel"),
        initiated_by: valueOf(form, "initiated_by"),
        note: valueOf(form, "note"),
      };
      return refusalOf(await app.record("InteractionLogged", fields, when));
    },
  });
}

/**
 * @param {App} app @param {string} contactId @param {string} name
 * @param {{onDone?: () => void, cancel?: () => void}} [how]
 */
export function noteForm(app, contactId, name, how = {}) {
  return actionForm({
    app,
    ...how,
    label: `Note about ${name}`,
    submit: "Save note",
    done: `Saved a note about ${name}.`,
    children: [field("Note", h("textarea", { name: "text", rows: 3 }))],
    act: async (form) => {
      const text = valueOf(form, "text");
      if (!text) return "Write the note first: an empty note is not saved.";
      return refusalOf(await app.record("NoteAdded", { contact_id: contactId, text }));
    },
  });
}

/**
 * @param {App} app @param {string} contactId @param {string} name
 * @param {{onDone?: () => void, cancel?: () => void}} [how]
 */
export function askForm(app, contactId, name, how = {}) {
  return actionForm({
    app,
    ...how,
    label: `Ask ${name}`,
    submit: "Record ask",
    done: `Recorded what you asked of ${name}.`,
    children: [field("What you asked", h("input", { name: "what", type: "text" })), weightInput()],
    act: async (form) => {
      const what = valueOf(form, "what");
      if (!what) return "Say what you asked for: the ask needs a few words.";
      const weight = weightOf(form);
      if (weight === null) return "The weight must be a whole number from 1 to 5.";
      return refusalOf(await app.record("AskMade", { contact_id: contactId, what, weight }));
    },
  });
}

/**
 * @param {App} app @param {string} contactId @param {string} name
 * @param {{onDone?: () => void, cancel?: () => void}} [how]
 */
export function giveForm(app, contactId, name, how = {}) {
  return actionForm({
    app,
    ...how,
    label: `Give to ${name}`,
    submit: "Record give",
    done: `Recorded what you gave ${name}.`,
    children: [
      field("What you gave", h("input", { name: "what", type: "text" })),
      field("Kind", select("kind", GIVE_KINDS.map((k) => [k, k]), "advice")),
      weightInput(),
    ],
    act: async (form) => {
      const what = valueOf(form, "what");
      if (!what) return "Say what you gave: the give needs a few words.";
      const weight = weightOf(form);
      if (weight === null) return "The weight must be a whole number from 1 to 5.";
      const kind = valueOf(form, "kind");
      return refusalOf(await app.record("GiveMade", { contact_id: contactId, what, kind, weight }));
    },
  });
}

/**
 * @param {App} app @param {string} contactId @param {string} name
 * @param {{onDone?: () => void, cancel?: () => void}} [how]
 */
export function introForm(app, contactId, name, how = {}) {
  const others = app.views
    .contacts()
    .filter((c) => c.contact_id !== contactId)
    .map((c) => /** @type {[string, string]} */ ([c.contact_id, c.name]));
  return actionForm({
    app,
    ...how,
    label: `Introduce ${name}`,
    submit: "Record introduction",
    done: `Recorded the introduction.`,
    children: [
      field(`Introduce ${name} to`, select("other", [["", "Choose a contact"], ...others], "")),
      field("Note", h("textarea", { name: "note", rows: 2 })),
      weightInput(),
    ],
    act: async (form) => {
      const other = valueOf(form, "other");
      if (!other) return "Choose who you introduced them to.";
      const weight = weightOf(form);
      if (weight === null) return "The weight must be a whole number from 1 to 5.";
      const note = valueOf(form, "note");
      return refusalOf(
        await app.record("IntroductionMade", { contact_ids: [contactId, other], note, weight }),
      );
    },
  });
}

/**
 * @param {App} app @param {string} askId @param {string} what
 * @param {{onDone?: () => void, cancel?: () => void}} [how]
 */
export function resolveForm(app, askId, what, how = {}) {
  return actionForm({
    app,
    ...how,
    label: `Resolve the ask: ${what}`,
    submit: "Resolve ask",
    done: `Resolved the ask “${what}”.`,
    children: [
      field("Outcome", select("outcome", OUTCOMES.map((o) => [o, o]), "granted")),
      field("Note", h("textarea", { name: "note", rows: 2 })),
    ],
    act: async (form) =>
      refusalOf(
        await app.record("AskResolved", {
          ask_id: askId,
          outcome: valueOf(form, "outcome"),
          note: valueOf(form, "note"),
        }),
      ),
  });
}

/**
 * @param {App} app @param {string} eventId @param {string} summary
 * @param {{onDone?: () => void, cancel?: () => void}} [how]
 */
export function retractForm(app, eventId, summary, how = {}) {
  return actionForm({
    app,
    ...how,
    label: `Retract: ${summary}`,
    submit: "Retract entry",
    done: "Retracted the entry; it stays in the timeline, struck through.",
    children: [field("Why retract it", h("input", { name: "reason", type: "text" }))],
    act: async (form) => {
      const reason = valueOf(form, "reason");
      if (!reason) return "Give a reason: a retraction says why, for the record.";
      return refusalOf(await app.record("EventRetracted", { target_id: eventId, reason }));
    },
  });
}

const circleOptions = () =>
  CIRCLES.map((c) => /** @type {[string, string]} */ ([c, `${c}${cadenceNote(c)}`]));

/** @param {string} circle */
function cadenceNote(circle) {
  const days = CIRCLE_CADENCE[circle];
  return days ? ` (every ${days} days)` : " (no cadence)";
}

/**
 * The cadence typed in a form: null (the circle's), a whole number of days, or NaN.
 * @param {HTMLFormElement} form
 */
function cadenceOf(form) {
  const text = valueOf(form, "cadence_days");
  if (!text) return null;
  const days = Number(text);
  return Number.isInteger(days) && days >= 1 && days <= 36_500 ? days : NaN;
}

const cadenceInput = (/** @type {number | null} */ value) =>
  field(
    "Cadence in days",
    h("input", { name: "cadence_days", type: "number", min: 1, max: 36500, value: value ?? "" }),
    "Empty: the circle's cadence",
  );

/**
 * @param {App} app @param {{onDone?: (id: string) => void, cancel?: () => void}} [how]
 */
export function addContactForm(app, how = {}) {
  /** @type {string} */
  let added = "";
  return actionForm({
    app,
    cancel: how.cancel,
    onDone: () => how.onDone?.(added),
    label: "Add a contact",
    submit: "Add contact",
    done: "Added the contact.",
    children: [
      field("Name", h("input", { name: "name", type: "text", autocomplete: "off" })),
      field("Circle", select("circle", circleOptions(), "wider")),
      field("Tags", h("input", { name: "tags", type: "text" }), "Separated by commas"),
      field("Email", h("input", { name: "email", type: "email" })),
      field("Phone", h("input", { name: "phone", type: "tel" })),
      cadenceInput(null),
    ],
    act: async (form) => {
      const name = valueOf(form, "name");
      if (!name) return "Give the contact a name.";
      const cadence = cadenceOf(form);
      if (Number.isNaN(cadence)) return "The cadence must be a whole number of days, 1 to 36500, or empty.";
      const emails = list(valueOf(form, "email"));
      const phones = list(valueOf(form, "phone"));
      const refusal = emailsError(emails) ?? phonesError(phones);
      if (refusal) return refusal;
      const outcome = await app.record("ContactAdded", {
        name,
        circle: valueOf(form, "circle"),
        tags: list(valueOf(form, "tags")),
        emails,
        phones,
        cadence_days: cadence,
      });
      if (outcome.ok) added = outcome.event.event_id;
      return refusalOf(outcome);
    },
  });
}

/**
 * Edit a contact's fields: records only what changed.
 * @param {App} app @param {Contact} contact
 * @param {{onDone?: () => void, cancel?: () => void}} [how]
 */
export function editForm(app, contact, how = {}) {
  return actionForm({
    app,
    ...how,
    label: `Edit ${contact.name}`,
    submit: "Save changes",
    done: `Saved the changes to ${contact.name}.`,
    children: [
      field("Name", h("input", { name: "name", type: "text", value: contact.name })),
      field("Circle", select("circle", circleOptions(), contact.circle)),
      cadenceInput(contact.cadence_days),
      field("Tags", h("input", { name: "tags", type: "text", value: contact.tags.join(", ") }), "Separated by commas"),
      field("Emails", h("input", { name: "emails", type: "text", value: contact.emails.join(", ") }), "Separated by commas"),
      field("Phones", h("input", { name: "phones", type: "text", value: contact.phones.join(", ") }), "Separated by commas"),
      field("Organisation", h("input", { name: "org", type: "text", value: contact.org ?? "" })),
    ],
    act: async (form) => {
      const name = valueOf(form, "name");
      if (!name) return "A contact needs a name: it cannot be empty.";
      const cadence = cadenceOf(form);
      if (Number.isNaN(cadence)) return "The cadence must be a whole number of days, 1 to 36500, or empty.";
      const org = valueOf(form, "org") || null;
      /** @type {Record<string, unknown>} */
      const wanted = {
        name,
        circle: valueOf(form, "circle"),
        cadence_days: cadence,
        tags: list(valueOf(form, "tags")),
        emails: list(valueOf(form, "emails")),
        phones: list(valueOf(form, "phones")),
        org,
      };
      /** @type {Record<string, unknown>} */
      const changed = { contact_id: contact.id };
      for (const [key, value] of Object.entries(wanted)) {
        const held = /** @type {Record<string, unknown>} */ (contact)[key];
        if (JSON.stringify(held) !== JSON.stringify(value)) changed[key] = value;
      }
      if (Object.keys(changed).length === 1) return "Nothing changed: there is nothing to save.";
      const refusal = emailsError(/** @type {string[]} */ (wanted.emails)) ?? phonesError(/** @type {string[]} */ (wanted.phones));
      if (refusal) return refusal;
      return refusalOf(await app.record("ContactEdited", changed));
    },
  });
}

/**
 * Forgetting a person (ADR 0130): what goes and what stays, said before anything
 * happens; the person types the name to confirm.
 * @param {App} app @param {Contact} contact @param {string[]} ids the contact and
 *   every contact merged into it
 * @param {{onDone?: () => void, cancel?: () => void}} [how]
 */
export function forgetForm(app, contact, ids, how = {}) {
  const name = contact.name;
  const merged = ids.length > 1 ? ` and the ${ids.length - 1} contact${ids.length > 2 ? "s" : ""} merged into them` : "";
  return actionForm({
    app,
    ...how,
    danger: true,
    label: `Forget ${name}`,
    submit: "Forget for good",
    done: "Forgotten on this device; the server and your other devices forget at their next sync.",
    children: [
      h(
        "div",
        { class: "note warning" },
        h("p", {}, h("strong", {}, `Forget ${name}${merged} on every device? This cannot be undone.`)),
        h(
          "p",
          {},
          "Removed: their name, emails, phones, organisation and tags, your notes, and the words of every interaction, ask, give and introduction with them: " +
            "here now, and on the server and your other devices when they next sync.",
        ),
        h(
          "p",
          {},
          "Kept: that those things happened, when, their kinds and weights, so your ledger and stats keep their numbers. " +
            "The person stays in your list as “(forgotten)”. A backup or export made before now still holds what it held.",
        ),
      ),
      field("Type their name to confirm", h("input", { name: "confirm", type: "text", autocomplete: "off" }), name),
    ],
    act: async (form) => {
      if (casefold(valueOf(form, "confirm").trim()) !== casefold(name.trim())) {
        return `Type ${name} to confirm: nothing was forgotten.`;
      }
      return refusalOf(await app.record("ContactForgotten", { contact_ids: ids }));
    },
  });
}
