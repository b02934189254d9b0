// The ledger: every active contact's gives and asks, balance and flags.

import { today } from "../../client/index.js";
import { h, select } from "../dom.js";
import { contactLink } from "./common.js";

/** @typedef {import("../app.js").App} App */
/** @typedef {import("../../client/views.js").LedgerRow} LedgerRow */

/** @param {LedgerRow} row */
export function flagWords(row) {
  if (row.only_asks) return "only asks lately";
  if (row.one_sided) return "one-sided lately";
  return "";
}

/** @type {Record<string, (a: LedgerRow, b: LedgerRow) => number>} */
const ORDERS = {
  balance: (a, b) => a.balance - b.balance,
  name: () => 0, // the views' own order
  recent: (a, b) => (b.last_touch ?? "").localeCompare(a.last_touch ?? ""),
};

/**
 * @param {App} app
 * @returns {Node}
 */
export function ledgerScreen(app) {
  const memory = app.remember("ledger");
  const order = memory.order || "balance";
  const flagged = memory.flagged === "yes";
  const rows = app.views
    .ledger(today())
    .filter((r) => !flagged || r.one_sided || r.only_asks)
    .sort(ORDERS[order] ?? ORDERS.balance);
  const sort = select("order", [["balance", "Balance"], ["name", "Name"], ["recent", "Last touch"]], order);
  sort.id = "ledger-order";
  sort.addEventListener("change", () => {
    memory.order = sort.value;
    app.draw();
  });
  const only = h("input", { type: "checkbox", id: "ledger-flagged", checked: flagged });
  only.addEventListener("change", () => {
    memory.flagged = only.checked ? "yes" : "";
    app.draw();
  });
  return h(
    "div",
    { class: "screen ledger" },
    h("h1", {}, "Ledger"),
    h(
      "p",
      { class: "explain" },
      "Balance is the weight of what you gave minus what you asked, over all time. ",
      "“One-sided” means your asks outweigh your gives over the last 12 months; ",
      "“only asks” means every touch in that time was an ask.",
    ),
    h(
      "div",
      { class: "filters" },
      h("div", { class: "field" }, h("label", { for: "ledger-order" }, "Sort by"), sort),
      h("div", { class: "check" }, only, h("label", { for: "ledger-flagged" }, "Only one-sided")),
    ),
    rows.length
      ? h(
          "table",
          { class: "ledger-table" },
          h("caption", { class: "visually-hidden" }, "Gives and asks per contact"),
          h(
            "thead",
            {},
            h("tr", {}, ["Contact", "Gave", "Asked", "Balance"].map((t) => h("th", { scope: "col" }, t))),
          ),
          h(
            "tbody",
            {},
            rows.map((r) =>
              h(
                "tr",
                {},
                h("th", { scope: "row" }, contactLink(r.contact_id, r.name), flagWords(r) && h("span", { class: "flag" }, flagWords(r))),
                h("td", {}, `${r.gives} (w${r.give_weight})`),
                h("td", {}, `${r.asks} (w${r.ask_weight})`),
                h("td", { class: r.balance < 0 ? "negative" : r.balance > 0 ? "positive" : undefined }, r.balance > 0 ? `+${r.balance}` : String(r.balance)),
              ),
            ),
          ),
        )
      : h("p", { class: "empty" }, flagged ? "No one-sided contact: well balanced." : "No contacts yet."),
  );
}
