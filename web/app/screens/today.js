// Today: the plan for today (ADR 0100), computed on this device by the same rule
// as `recip today` and `GET /v1/today` (web/client/plan.js): a handful of people,
// each with why and what to do, and the one-tap actions that do it; then the
// asks still waiting on an answer that the plan does not already show.

import { DEFAULT_LIMIT, today } from "../../client/index.js";
import { h } from "../dom.js";
import { giveForm, noteForm, resolveForm } from "../forms.js";
import { openAsks } from "../model.js";
import { coldText, contactLink, daysAgo, focusForm, section } from "./common.js";

/** @typedef {import("../app.js").App} App */
/** @typedef {import("../../client/views.js").ColdRow} ColdRow */
/** @typedef {import("../../client/plan.js").Nudge} Nudge */

/** How many cooling contacts the preview shows while the log opens. */
const HANDFUL = DEFAULT_LIMIT;
/** How many open asks Today lists at once: a handful, not a wall. */
const ASKS_SHOWN = 7;
const NOTHING = "Nothing pressing today: no one is cold, owed or waiting.";
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** The words on each kind of item's badge. */
/** @type {Record<string, string>} */
const BADGES = { occasion: "occasion", owe: "owed", open_ask: "waiting", cold: "cold", one_sided: "one-sided" };

/**
 * A kind as shown: a cold item not yet due (urgency under 1) is "cooling".
 * @param {Nudge} nudge
 */
function shade(nudge) {
  return nudge.kind === "cold" && nudge.urgency < 1 ? "cooling" : nudge.kind;
}

/**
 * What to do, as the app says it: the CLI command a follow-up mentions is the
 * Resolve button here.
 * @param {Nudge} nudge
 */
function todoText(nudge) {
  return nudge.todo.replace(/ \(recip resolve [^)]*\)$/, "");
}

/** "Saturday 1 March" of a day number. @param {number} day */
function longDate(day) {
  const d = new Date(day * 86_400_000);
  return `${WEEKDAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
}

/**
 * The line under the heading: the day, and how much of what is due is shown.
 * @param {number} day @param {number} shown @param {number} candidates
 */
function lede(day, shown, candidates) {
  if (!shown) return `${longDate(day)}.`;
  const people = candidates === 1 ? "1 person needs" : `${candidates} people need`;
  const which = shown < candidates ? ` The ${shown} most urgent, one thing each:` : shown > 1 ? " Most urgent first:" : "";
  return `${longDate(day)}: ${people} something from you.${which}`;
}

/**
 * Who, and where they stand against their cadence (the preview, from saved views).
 * @param {ColdRow} row
 */
function standing(row) {
  return [
    h("p", { class: "who" }, contactLink(row.contact_id, row.name), " ", h("span", { class: `badge ${row.status}` }, row.status)),
    h("p", { class: "detail" }, coldText(row)),
  ];
}

/**
 * Today as the views saved at the last run show it, while a large log is read
 * and folded: who is cooling or cold; the whole plan once the log is open.
 * @param {ColdRow[]} cold
 */
export function todayPreview(cold) {
  return h(
    "div",
    { class: "screen today" },
    h("h1", {}, "Today"),
    section(
      "Reach out",
      cold.length
        ? h("ul", { class: "cards" }, cold.slice(0, HANDFUL).map((row) => h("li", { class: `card ${row.status}` }, ...standing(row))))
        : h("p", { class: "empty" }, "No one is cooling: everyone with a cadence was touched recently."),
      h("p", { class: "loading" }, "Opening the whole log for the full plan…"),
    ),
    section("Open asks", h("p", { class: "loading" }, "Opening the whole log…")),
  );
}

/**
 * @param {App} app
 * @returns {Node}
 */
export function todayScreen(app) {
  const asOf = today();
  const memory = app.remember("today");
  const fold = app.views.fold;
  const planned = app.views.plan(asOf);
  const close = () => {
    memory.open = "";
    app.draw();
  };
  /** @param {string} key */
  const toggle = (key) => () => {
    memory.open = memory.open === key ? "" : key;
    app.draw();
    focusForm(app.main);
  };
  /**
   * A button that opens a form in place (and closes it again).
   * @param {string} key @param {string} text @param {string} label
   */
  const opener = (key, text, label) =>
    h("button", { type: "button", onclick: toggle(key), "aria-expanded": String(memory.open === key), "aria-label": label }, text);

  /** @param {Nudge} nudge */
  const card = (nudge) => {
    const { contact_id: id, name } = nudge;
    const what = nudge.ask_id ? /** @type {string} */ (fold.asks.get(nudge.ask_id)?.what ?? "") : "";
    const note = `note:${id}`;
    const give = `give:${id}`;
    const resolve = `resolve:${nudge.ask_id}`;
    /** @type {(Node | false)[]} */
    const second =
      nudge.kind === "open_ask" && nudge.ask_id
        ? [opener(resolve, "Resolve", `Resolve the ask: ${what}`)]
        : nudge.kind === "owe" || nudge.kind === "one_sided"
          ? [opener(give, "Give", `Give to ${name}`)]
          : [opener(note, "Note", `Note about ${name}`)];
    const form =
      (memory.open === note && noteForm(app, id, name, { onDone: close, cancel: close })) ||
      (memory.open === give && giveForm(app, id, name, { onDone: close, cancel: close })) ||
      (memory.open === resolve && nudge.ask_id && resolveForm(app, nudge.ask_id, what, { onDone: close, cancel: close }));
    return h(
      "li",
      { class: `card nudge ${shade(nudge)}`, "data-kind": nudge.kind },
      h("p", { class: "who" }, contactLink(id, name), " ", h("span", { class: `badge ${shade(nudge)}` }, shade(nudge) === "cooling" ? "cooling" : BADGES[nudge.kind])),
      h("p", { class: "why" }, nudge.why),
      h("p", { class: "todo" }, todoText(nudge)),
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "button", onclick: () => app.touch(id, name), "aria-label": `Log a touch with ${name}` }, "Log a touch"),
        ...second,
      ),
      form,
    );
  };

  const shownAsks = new Set(planned.items.map((n) => n.ask_id));
  const asks = openAsks(app.views).filter((ask) => !shownAsks.has(ask.ask_id));
  const waiting = asks.slice(-ASKS_SHOWN).reverse().map((ask) => {
    const key = `resolve:${ask.ask_id}`;
    return h(
      "li",
      { class: "card" },
      h("p", { class: "who" }, contactLink(ask.contact_id, ask.name)),
      h("p", { class: "detail" }, `You asked: ${ask.what} (weight ${ask.weight}), ${daysAgo(asOf - ask.day)}`),
      h(
        "div",
        { class: "buttons" },
        opener(key, "Resolve", `Resolve the ask: ${ask.what}`),
        h("button", { type: "button", "aria-label": `Log a touch with ${ask.name}`, onclick: () => app.touch(ask.contact_id, ask.name) }, "Log a touch"),
      ),
      memory.open === key && resolveForm(app, ask.ask_id, ask.what, { onDone: close, cancel: close }),
    );
  });

  const items = planned.items;
  return h(
    "div",
    { class: "screen today" },
    h("h1", {}, "Today"),
    h("p", { class: "lede" }, lede(asOf, items.length, planned.candidates)),
    section(
      "Reach out",
      items.length ? h("ol", { class: "cards plan" }, items.map(card)) : h("p", { class: "empty" }, NOTHING),
    ),
    section(
      "Open asks",
      waiting.length
        ? h("ul", { class: "cards" }, waiting)
        : h("p", { class: "empty" }, items.some((n) => n.kind === "open_ask") ? "No other ask is waiting on an answer." : "No ask is waiting on an answer."),
      asks.length > ASKS_SHOWN && h("p", { class: "more" }, `${asks.length - ASKS_SHOWN} older asks are open too; each is on its contact's page.`),
    ),
  );
}
