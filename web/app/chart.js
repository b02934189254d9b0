// Small bar charts in plain SVG: no library, no inline style (the CSP forbids
// it); colours come from classes in app.css. Each chart is an image with a
// label saying what it shows, and a table of the same figures follows it for
// anyone who would rather read than look.

import { h, svg } from "./dom.js";

/**
 * @typedef {{key: string, label: string, className: string}} Series
 * @typedef {{label: string, values: Record<string, number>}} Bar
 */

const WIDTH = 360;
const HEIGHT = 160;
const TOP = 12;
const BOTTOM = 22;
const LEFT = 26;

/**
 * Grouped bars, one group per label (months), one bar per series.
 * @param {{title: string, series: Series[], bars: Bar[]}} spec
 */
export function barChart(spec) {
  const max = Math.max(1, ...spec.bars.flatMap((b) => spec.series.map((s) => b.values[s.key] ?? 0)));
  const plotW = WIDTH - LEFT - 4;
  const plotH = HEIGHT - TOP - BOTTOM;
  const groupW = plotW / Math.max(1, spec.bars.length);
  const barW = Math.max(2, (groupW - 4) / spec.series.length);
  const y = (/** @type {number} */ v) => TOP + plotH - (v / max) * plotH;
  /** @type {SVGElement[]} */
  const marks = [];
  spec.bars.forEach((bar, i) => {
    const x0 = LEFT + i * groupW + 2;
    spec.series.forEach((s, j) => {
      const v = bar.values[s.key] ?? 0;
      marks.push(
        svg(
          "rect",
          { x: x0 + j * barW, y: y(v), width: Math.max(1, barW - 1), height: Math.max(0, TOP + plotH - y(v)), class: s.className },
          svg("title", {}, `${bar.label}: ${s.label} ${v}`),
        ),
      );
    });
    marks.push(svg("text", { x: x0 + groupW / 2 - 2, y: HEIGHT - 6, class: "tick", "text-anchor": "middle" }, bar.label));
  });
  const summary = spec.series
    .map((s) => `${s.label} ${spec.bars.reduce((t, b) => t + (b.values[s.key] ?? 0), 0)} in total`)
    .join(", ");
  const figure = svg(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": `${spec.title}: ${summary}`, class: "chart" },
    svg("line", { x1: LEFT, x2: WIDTH - 4, y1: TOP + plotH, y2: TOP + plotH, class: "axis" }),
    svg("text", { x: LEFT - 4, y: TOP + 4, class: "tick", "text-anchor": "end" }, String(max)),
    svg("text", { x: LEFT - 4, y: TOP + plotH, class: "tick", "text-anchor": "end" }, "0"),
    ...marks,
  );
  const legend = h(
    "ul",
    { class: "legend", "aria-hidden": "true" },
    spec.series.map((s) => h("li", {}, h("span", { class: `swatch ${s.className}` }), s.label)),
  );
  const table = h(
    "details",
    { class: "figures" },
    h("summary", {}, "The figures"),
    h(
      "table",
      {},
      h("caption", {}, spec.title),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Month"), spec.series.map((s) => h("th", { scope: "col" }, s.label)))),
      h(
        "tbody",
        {},
        spec.bars.map((b) =>
          h("tr", {}, h("th", { scope: "row" }, b.label), spec.series.map((s) => h("td", {}, String(b.values[s.key] ?? 0)))),
        ),
      ),
    ),
  );
  return h("figure", { class: "chart-box" }, h("figcaption", {}, spec.title), figure, legend, table);
}
