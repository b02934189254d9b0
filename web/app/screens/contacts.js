// Contacts: search as you type (any word's prefix, case and accents ignored),
// filters by circle and tag, and adding a contact.

import { CIRCLES } from "../../client/index.js";
import { field, h, replace, select } from "../dom.js";
import { addContactForm } from "../forms.js";
import { tagsInUse } from "../model.js";
import { filterContacts } from "../search.js";
import { contactLink, focusForm } from "./common.js";

/** @typedef {import("../app.js").App} App */

/** Most rows drawn at once; a longer list says to narrow the search. */
export const SHOWN = 100;

/**
 * @param {App} app
 * @returns {Node}
 */
export function contactsScreen(app) {
  const memory = app.remember("contacts");
  const archived = memory.archived === "yes";
  // archived ones on request (to restore them); absorbed ones live on in their survivor
  const rows = archived ? app.views.contacts({ all: true }).filter((r) => r.merged_into === null) : app.views.contacts();
  const results = h("div", { class: "results" });
  const status = h("p", { class: "count", role: "status" });

  const showResults = () => {
    const found = filterContacts(rows, memory);
    status.textContent =
      found.length === rows.length
        ? `${rows.length} contacts`
        : `${found.length} of ${rows.length} contacts match`;
    replace(
      results,
      found.length
        ? h(
            "ul",
            { class: "contact-list", "aria-label": "Contacts" },
            found.slice(0, SHOWN).map((r) =>
              h(
                "li",
                {},
                contactLink(r.contact_id, r.name),
                h("span", { class: `badge circle-${r.circle}` }, r.circle),
                r.tags.length ? h("span", { class: "tags" }, r.tags.join(", ")) : null,
                r.org ? h("span", { class: "org" }, r.org) : null,
                r.archived ? h("span", { class: "badge" }, "archived") : null,
              ),
            ),
          )
        : h("p", { class: "empty" }, rows.length ? "No contact matches." : "No contacts yet: add the first one."),
      found.length > SHOWN && h("p", { class: "more" }, `Showing ${SHOWN}; type more to narrow the list.`),
    );
  };

  const search = h("input", { type: "search", name: "query", value: memory.query ?? "", autocomplete: "off" });
  search.addEventListener("input", () => {
    memory.query = search.value;
    showResults();
  });
  const circle = select("circle", [["", "Any circle"], ...CIRCLES.map((c) => /** @type {[string, string]} */ ([c, c]))], memory.circle ?? "");
  const tag = select("tag", [["", "Any tag"], ...tagsInUse(app.views).map((t) => /** @type {[string, string]} */ ([t, t]))], memory.tag ?? "");
  for (const [control, key] of /** @type {const} */ ([[circle, "circle"], [tag, "tag"]])) {
    control.addEventListener("change", () => {
      memory[key] = control.value;
      showResults();
    });
  }
  const finder = h(
    "form",
    { role: "search", class: "finder", onsubmit: (/** @type {Event} */ e) => e.preventDefault() },
    field("Search contacts", search, "Any word's beginning: “ada lo”, “jose”"),
    h("div", { class: "filters" }, field("Circle", circle), field("Tag", tag)),
    h(
      "div",
      { class: "check" },
      h("input", {
        type: "checkbox",
        id: "contacts-archived",
        checked: archived,
        onchange: () => {
          memory.archived = archived ? "" : "yes";
          app.draw();
        },
      }),
      h("label", { for: "contacts-archived" }, "Include archived"),
    ),
  );
  showResults();

  const adding = memory.adding === "yes";
  const close = () => {
    memory.adding = "";
    app.draw();
  };
  return h(
    "div",
    { class: "screen contacts" },
    h(
      "div",
      { class: "title-row" },
      h("h1", {}, "Contacts"),
      h(
        "button",
        {
          type: "button",
          class: "primary",
          "aria-expanded": String(adding),
          onclick: () => {
            memory.adding = adding ? "" : "yes";
            app.draw();
            if (!adding) focusForm(app.main);
          },
        },
        "Add contact",
      ),
    ),
    adding &&
      addContactForm(app, {
        cancel: close,
        onDone: (id) => {
          memory.adding = "";
          app.go(`#/contact/${encodeURIComponent(id)}`);
        },
      }),
    finder,
    status,
    results,
  );
}
