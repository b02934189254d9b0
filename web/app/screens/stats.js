// Stats: the whole network at a glance, with two small charts.

import { CIRCLES, today } from "../../client/index.js";
import { barChart } from "../chart.js";
import { h } from "../dom.js";
import { monthly } from "../model.js";
import { contactLink, section } from "./common.js";

/** @typedef {import("../app.js").App} App */

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** @param {string} month "YYYY-MM" */
const monthLabel = (month) => MONTHS[Number(month.slice(5, 7)) - 1] ?? month;

/**
 * @param {App} app
 * @returns {Node}
 */
export function statsScreen(app) {
  const asOf = today();
  const stats = app.views.stats(asOf);
  const months = monthly(app.views, asOf);
  /** @param {string} label @param {number | string} value @param {string} [className] */
  const tile = (label, value, className) =>
    h("div", { class: `tile ${className ?? ""}` }, h("span", { class: "value" }, String(value)), h("span", { class: "label" }, label));
  return h(
    "div",
    { class: "screen stats" },
    h("h1", {}, "Stats"),
    h(
      "div",
      { class: "tiles" },
      tile("contacts", stats.contacts),
      tile("warm", stats.warm, "warm"),
      tile("cooling", stats.cooling, "cooling"),
      tile("cold", stats.cold, "cold"),
      tile("open asks", stats.open_asks),
    ),
    h(
      "p",
      { class: "explain" },
      `All time: you gave ${stats.gives} times (weight ${stats.give_weight}) and asked ${stats.asks} times (weight ${stats.ask_weight}).`,
    ),
    h(
      "div",
      { class: "charts" },
      barChart({
        title: "Give and ask weight, last 12 months",
        series: [
          { key: "give", label: "Give weight", className: "give" },
          { key: "ask", label: "Ask weight", className: "ask" },
        ],
        bars: months.map((m) => ({ label: monthLabel(m.month), values: { give: m.give, ask: m.ask } })),
      }),
      barChart({
        title: "Touches per month",
        series: [{ key: "touches", label: "Touches", className: "touch" }],
        bars: months.map((m) => ({ label: monthLabel(m.month), values: { touches: m.touches } })),
      }),
    ),
    section(
      "Circles",
      h(
        "ul",
        { class: "circles" },
        CIRCLES.map((c) => h("li", {}, h("span", { class: `badge circle-${c}` }, c), ` ${stats.circles[c] ?? 0}`)),
      ),
    ),
    section(
      "Most one-sided",
      stats.most_one_sided.length
        ? h(
            "ol",
            { class: "plain" },
            stats.most_one_sided.map((r) => h("li", {}, contactLink(r.contact_id, r.name), ` balance ${r.balance}`)),
          )
        : h("p", { class: "empty" }, "No one: you have not asked more than you gave of anyone."),
    ),
  );
}
