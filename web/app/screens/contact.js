// A contact: who they are, the give/ask ledger in words, open asks, the
// timeline (retracted entries struck through, with the reason) and every action.

import { today } from "../../client/index.js";
import { h } from "../dom.js";
import {
  askForm,
  editForm,
  forgetForm,
  giveForm,
  introForm,
  logForm,
  noteForm,
  resolveForm,
  retractForm,
} from "../forms.js";
import { contactDetail, forgetIds, openAsks } from "../model.js";
import { coldText, daysAgo, focusForm, section } from "./common.js";

/** @typedef {import("../app.js").App} App */
/** @typedef {import("../../client/views.js").LedgerRow} LedgerRow */
/** @typedef {import("../../client/views.js").TimelineEntry} TimelineEntry */

/** Timeline entries drawn before "Show all". */
export const RECENT = 30;

/**
 * The ledger of one contact in sentences.
 * @param {LedgerRow} row @param {string} name
 * @returns {string[]}
 */
export function ledgerSentences(row, name) {
  const times = (/** @type {number} */ n) => (n === 1 ? "once" : `${n} times`);
  const gave = row.gives ? `You gave ${name} ${times(row.gives)} (weight ${row.give_weight})` : `You have given ${name} nothing yet`;
  const asked = row.asks ? `asked ${times(row.asks)} (weight ${row.ask_weight})` : "never asked";
  const out = [row.gives || row.asks ? `${gave} and ${asked}.` : `No gives or asks with ${name} yet.`];
  if (row.balance > 0) out.push(`Balance +${row.balance}: you have given more than you asked.`);
  else if (row.balance < 0) out.push(`Balance ${row.balance}: you have asked more than you gave.`);
  else out.push("Balance 0: gives and asks weigh the same.");
  const outcomes = [
    ["granted", row.granted],
    ["declined", row.declined],
    ["withdrawn", row.withdrawn],
    ["unanswered", row.unanswered],
    ["still open", row.open],
  ].filter(([, n]) => n);
  if (outcomes.length) out.push(`Asks: ${outcomes.map(([what, n]) => `${n} ${what}`).join(", ")}.`);
  if (row.only_asks) {
    out.push(`Only asks: every touch with ${name} in the last 12 months was an ask. Time to give or just say hello.`);
  } else if (row.one_sided) {
    out.push(`One-sided: over the last 12 months your asks of ${name} weigh more than your gives.`);
  } else {
    out.push("Not one-sided over the last 12 months.");
  }
  return out;
}

/**
 * @param {App} app @param {string} contactId
 * @returns {Node}
 */
export function contactScreen(app, contactId) {
  const asOf = today();
  const detail = contactDetail(app.views, contactId, asOf);
  if (!detail) {
    return h(
      "div",
      { class: "screen" },
      h("h1", {}, "No such contact"),
      h("p", {}, "This device knows no contact by that id (it may not have synced yet). "),
      h("a", { href: "#/contacts" }, "Back to contacts"),
    );
  }
  const { contact, ledger, cold, timeline } = detail;
  const name = contact.name;
  const memory = app.remember(`contact:${contact.id}`);
  const close = () => {
    memory.open = "";
    app.draw();
  };
  const how = { onDone: close, cancel: close };
  /** @param {string} key @param {string} label @param {string} [accessible] */
  const toggle = (key, label, accessible) =>
    h(
      "button",
      {
        type: "button",
        "aria-expanded": String(memory.open === key),
        "aria-label": accessible,
        onclick: () => {
          memory.open = memory.open === key ? "" : key;
          app.draw();
          focusForm(app.main);
        },
      },
      label,
    );

  /** @type {Record<string, () => Node>} */
  const panels = {
    log: () => logForm(app, contact.id, name, how),
    ask: () => askForm(app, contact.id, name, how),
    give: () => giveForm(app, contact.id, name, how),
    intro: () => introForm(app, contact.id, name, how),
    note: () => noteForm(app, contact.id, name, how),
    edit: () => editForm(app, contact, how),
    forget: () => forgetForm(app, contact, forgetIds(app.views, contact.id), how),
  };
  const forgotten = app.views.fold.forgotten.has(contact.id);
  const flagArchived = async () => {
    const type = contact.archived ? "ContactRestored" : "ContactArchived";
    const outcome = await app.record(type, { contact_id: contact.id });
    if (!outcome.ok) return app.flash(outcome.error);
    if (contact.archived) return app.flash(`Restored ${name}.`);
    app.flash(`Archived ${name}: find it again under Contacts, “Include archived”.`, async () => {
      const undone = await app.record("ContactRestored", { contact_id: contact.id });
      app.flash(undone.ok ? `Restored ${name}.` : undone.error);
    });
  };

  const facts = [
    `${contact.circle} circle`,
    contact.cadence_days ? `every ${contact.cadence_days} days` : null,
    contact.org,
    contact.tags.length ? `tags: ${contact.tags.join(", ")}` : null,
    ...contact.emails,
    ...contact.phones,
  ].filter(Boolean);

  const asks = openAsks(app.views, contact.id);
  return h(
    "div",
    { class: "screen contact" },
    h("h1", {}, name),
    detail.mergedFrom && h("p", { class: "note" }, `${detail.mergedFrom.name} was merged into ${name}.`),
    h("p", { class: "facts" }, facts.join(" · ")),
    contact.archived
      ? h("p", { class: "note" }, `${name} is archived: left out of Today, the ledger and the stats until restored.`)
      : cold && h("p", { class: `standing ${cold.status}` }, h("span", { class: `badge ${cold.status}` }, cold.status), " ", coldText(cold)),
    h(
      "div",
      { class: "actions", role: "group", "aria-label": "Actions" },
      // as `recip` refuses to record about an archived contact, the app offers only restoring it;
      // what is recorded about a forgotten person would be erased at once (ADR 0130)
      !contact.archived && !forgotten && [
        toggle("log", "Log interaction"),
        toggle("ask", "Ask"),
        toggle("give", "Give"),
        toggle("intro", "Introduce"),
        toggle("note", "Note"),
        toggle("edit", "Edit"),
      ],
      h("button", { type: "button", onclick: flagArchived }, contact.archived ? "Restore" : "Archive"),
      !forgotten && toggle("forget", "Forget this person"),
    ),
    forgotten &&
      h(
        "p",
        { class: "note", role: "status" },
        "This person was forgotten: their name, details and the words of their history are erased here, and on your other devices at their next sync; what happened, when and how much remains.",
      ),
    (!contact.archived || memory.open === "forget") && memory.open && panels[memory.open]?.(),
    section(
      "Give and ask",
      ledger
        ? h("div", { class: "ledger-words" }, ledgerSentences(ledger, name).map((s) => h("p", {}, s)))
        : h("p", { class: "empty" }, "Archived contacts have no ledger shown."),
      asks.length > 0 &&
        h(
          "ul",
          { class: "cards", "aria-label": "Open asks" },
          asks.map((ask) =>
            h(
              "li",
              { class: "card" },
              h("p", {}, `Open ask: ${ask.what} (weight ${ask.weight}), ${daysAgo(asOf - ask.day)}`),
              toggle(`resolve:${ask.ask_id}`, "Resolve", `Resolve the ask: ${ask.what}`),
              memory.open === `resolve:${ask.ask_id}` && resolveForm(app, ask.ask_id, ask.what, how),
            ),
          ),
        ),
    ),
    section("Timeline", ...timelineList(app, timeline, memory, toggle, how)),
  );
}

/** What a retracted event was, in words. */
/** @type {Record<string, string>} */
const KINDS = {
  ContactAdded: "the contact",
  ContactEdited: "an edit",
  ContactArchived: "an archival",
  ContactRestored: "a restore",
  ContactsMerged: "a merge",
  InteractionLogged: "an interaction",
  AskMade: "an ask",
  AskResolved: "an ask's outcome",
  GiveMade: "a give",
  IntroductionMade: "an introduction",
  NoteAdded: "a note",
};

/**
 * A retraction's timeline line: "retracted a give: logged twice".
 * @param {App} app @param {string} eventId
 */
function retraction(app, eventId) {
  const fold = app.views.fold;
  const e = fold.byId.get(eventId);
  const target = fold.byId.get(String(e?.target_id ?? ""));
  return `retracted ${KINDS[target?.type ?? ""] ?? "an entry"}: ${String(e?.reason ?? "")}`;
}

/**
 * The timeline, newest first; retracted entries struck through with the reason.
 * @param {App} app @param {TimelineEntry[]} entries @param {Record<string, string>} memory
 * @param {(key: string, label: string, accessible?: string) => Node} toggle
 * @param {{onDone: () => void, cancel: () => void}} how
 */
function timelineList(app, entries, memory, toggle, how) {
  const fold = app.views.fold;
  const newest = [...entries].reverse();
  const shown = memory.all === "yes" ? newest : newest.slice(0, RECENT);
  const items = shown.map((entry) => {
    const reasons = entry.retracted_by.map((id) => String(fold.byId.get(id)?.reason ?? ""));
    const summary = entry.type === "EventRetracted" ? retraction(app, entry.event_id) : entry.summary;
    const text = entry.retracted ? h("del", {}, summary) : h("span", {}, summary);
    const key = `retract:${entry.event_id}`;
    const retractable = !entry.retracted && entry.type !== "EventRetracted";
    return h(
      "li",
      { class: entry.retracted ? "retracted" : undefined },
      h("time", { datetime: entry.date }, entry.date),
      " ",
      text,
      entry.retracted && h("span", { class: "reason" }, `Retracted: ${reasons.join("; ")}`),
      retractable && toggle(key, "Retract", `Retract: ${entry.summary}`),
      memory.open === key && retractForm(app, entry.event_id, entry.summary, how),
    );
  });
  return [
    h("ol", { class: "timeline", "aria-label": "Timeline, newest first" }, items),
    entries.length > shown.length &&
      h(
        "button",
        {
          type: "button",
          class: "link",
          onclick: () => {
            memory.all = "yes";
            app.draw();
          },
        },
        `Show all ${entries.length} entries`,
      ),
  ];
}
