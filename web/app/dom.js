// Building the page without a framework and without markup strings: every
// element is made with createElement and every piece of text is a Text node, so
// a contact named `<img src=x onerror=alert(1)>` is shown as those characters.
// There is no innerHTML anywhere in the app (ADR 0095).

/**
 * @typedef {Node | string | number | null | undefined | false} Child
 * @typedef {Record<string, string | number | boolean | null | undefined |
 *   EventListener>} Props
 */

/**
 * An element with attributes, listeners (`onclick`, `onsubmit`, ...) and children.
 * `false`, `null` and `undefined` children and attributes are left out.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  setProps(node, props);
  append(node, children);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * An SVG element (attributes only; text children become Text nodes).
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}, ...children) {
  const node = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  append(node, children);
  return node;
}

/** @param {Element} node @param {Props} props */
function setProps(node, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "value" && "value" in node) {
      /** @type {HTMLInputElement} */ (node).value = String(value);
    } else if (key === "checked" && "checked" in node) {
      /** @type {HTMLInputElement} */ (node).checked = Boolean(value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

/** @param {Node} node @param {(Child | Child[])[]} children */
function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * Replace every child of `node`.
 * @param {Node} node @param {...(Child | Child[])} children
 */
export function replace(node, ...children) {
  while (node.firstChild) node.removeChild(node.firstChild);
  append(node, children);
}

/** A unique id for pairing labels with their controls. */
let counter = 0;
/** @param {string} stem */
export function uid(stem) {
  counter += 1;
  return `${stem}-${counter}`;
}

/**
 * A labelled form control: `<label for>` plus the control (and an optional hint).
 * @param {string} label
 * @param {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} control
 * @param {string} [hint]
 */
export function field(label, control, hint) {
  if (!control.id) control.id = uid("f");
  /** @type {HTMLElement[]} */
  const parts = [h("label", { for: control.id }, label), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("small", { id: hintId, class: "hint" }, hint));
  }
  return h("div", { class: "field" }, ...parts);
}

/**
 * A `<select>` of `options` ([value, label] pairs), `selected` chosen.
 * @param {string} name @param {[string, string][]} options @param {string} [selected]
 */
export function select(name, options, selected) {
  return h(
    "select",
    { name },
    options.map(([value, label]) => h("option", { value, selected: value === selected }, label)),
  );
}

/**
 * The inline message of a form: `say(text)` shows why an action was refused (or
 * what was done), read out by screen readers.
 */
export function message() {
  const node = h("p", { class: "message", role: "status" });
  return {
    node,
    /** @param {string} text @param {"error" | "done"} [kind] */
    say(text, kind = "error") {
      node.className = `message ${kind}`;
      node.setAttribute("role", kind === "error" ? "alert" : "status");
      node.textContent = text;
    },
    clear() {
      node.className = "message";
      node.textContent = "";
    },
  };
}

/**
 * The value of a named control of a form, trimmed.
 * @param {HTMLFormElement} form @param {string} name
 */
export function valueOf(form, name) {
  const control = /** @type {HTMLInputElement | null} */ (form.elements.namedItem(name));
  return control ? control.value.trim() : "";
}
