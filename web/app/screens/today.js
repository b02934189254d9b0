// Today: who to reach out to now (cooling and cold, most urgent first, a
// handful), the asks still waiting on an answer, each with one-tap actions.

import { today } from "../../client/index.js";
import { h } from "../dom.js";
import { noteForm, resolveForm } from "../forms.js";
import { openAsks } from "../model.js";
import { coldText, contactLink, daysAgo, focusForm, section } from "./common.js";

/** @typedef {import("../app.js").App} App */

/** How many people Today suggests at once: a handful, not a wall. */
export const HANDFUL = 7;

/** @typedef {import("../../client/views.js").ColdRow} ColdRow */

/**
 * Who, and where they stand against their cadence.
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
 * and folded: who to reach out to, with the actions once the log is open.
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
  const cold = app.views.cold(asOf);
  const asks = openAsks(app.views);
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

  const reach = cold.slice(0, HANDFUL).map((row) => {
    const touch = () => app.touch(row.contact_id, row.name);
    const key = `note:${row.contact_id}`;
    return h(
      "li",
      { class: `card ${row.status}` },
      ...standing(row),
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "button", onclick: touch, "aria-label": `Log a touch with ${row.name}` }, "Log a touch"),
        h(
          "button",
          { type: "button", onclick: toggle(key), "aria-expanded": String(memory.open === key), "aria-label": `Note about ${row.name}` },
          "Note",
        ),
      ),
      memory.open === key && noteForm(app, row.contact_id, row.name, { onDone: close, cancel: close }),
    );
  });

  const waiting = asks.slice(-HANDFUL).reverse().map((ask) => {
    const key = `resolve:${ask.ask_id}`;
    return h(
      "li",
      { class: "card" },
      h("p", { class: "who" }, contactLink(ask.contact_id, ask.name)),
      h("p", { class: "detail" }, `You asked: ${ask.what} (weight ${ask.weight}), ${daysAgo(asOf - ask.day)}`),
      h(
        "div",
        { class: "buttons" },
        h(
          "button",
          { type: "button", onclick: toggle(key), "aria-expanded": String(memory.open === key), "aria-label": `Resolve the ask: ${ask.what}` },
          "Resolve",
        ),
        h(
          "button",
          {
            type: "button",
            "aria-label": `Log a touch with ${ask.name}`,
            onclick: () => app.touch(ask.contact_id, ask.name),
          },
          "Log a touch",
        ),
      ),
      memory.open === key && resolveForm(app, ask.ask_id, ask.what, { onDone: close, cancel: close }),
    );
  });

  const more = cold.length - reach.length;
  return h(
    "div",
    { class: "screen today" },
    h("h1", {}, "Today"),
    section(
      "Reach out",
      reach.length
        ? h("ul", { class: "cards" }, reach)
        : h("p", { class: "empty" }, "No one is cooling: everyone with a cadence was touched recently."),
      more > 0 && h("p", { class: "more" }, `${more} more are cooling or cold; these are the most overdue.`),
    ),
    section(
      "Open asks",
      waiting.length
        ? h("ul", { class: "cards" }, waiting)
        : h("p", { class: "empty" }, "No ask is waiting on an answer."),
      asks.length > HANDFUL && h("p", { class: "more" }, `${asks.length - HANDFUL} older asks are open too; each is on its contact's page.`),
    ),
  );
}
