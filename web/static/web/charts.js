/* Small SVG charts (no library): heatmap, horizontal bars, timeline lanes, legend.
 *
 * Each chart draws into an <svg> whose viewBox matches the width of its container, so text
 * keeps its real size on a wide screen and on a phone; charts redraw when the width changes.
 * Every drawn value carries its raw number in data-value so it can be checked against the
 * metrics it came from.
 */
"use strict";
const charts = (() => {
  const { svg, el } = taskml;
  const FONT = 12;
  const CHAR = 7; // approximate width of a character at FONT px

  /** Width available to the chart, in CSS pixels. */
  function widthOf(node, fallback = 640) {
    const box = node.parentElement;
    const w = box ? box.clientWidth : 0;
    return Math.max(260, Math.round(w || fallback));
  }

  function reset(node, width, height, label) {
    while (node.firstChild) node.firstChild.remove();
    node.setAttribute("viewBox", `0 0 ${width} ${height}`);
    node.setAttribute("width", "100%");
    node.setAttribute("preserveAspectRatio", "xMinYMin meet");
    node.setAttribute("role", "img");
    if (label) node.setAttribute("aria-label", label);
    node.classList.add("chart");
    node.style.aspectRatio = `${width} / ${height}`;
  }

  function clip(text, maxChars) {
    text = String(text);
    return text.length <= maxChars ? text : text.slice(0, Math.max(1, maxChars - 1)) + "…";
  }

  /** White → accent blue, for a value in [0, 1]. */
  function shade(v) {
    const t = Math.max(0, Math.min(1, v));
    const from = [255, 255, 255], to = [36, 87, 197];
    const c = from.map((f, i) => Math.round(f + (to[i] - f) * t));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  // ------------------------------------------------------------------ redraw on resize
  const drawn = new Map(); // svg → {draw, width}
  let timer = null;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      for (const [node, entry] of drawn) {
        if (!node.isConnected) { drawn.delete(node); continue; }
        if (widthOf(node) !== entry.width) { entry.width = widthOf(node); entry.draw(); }
      }
    }, 150);
  });
  function responsive(node, draw) {
    draw();
    drawn.set(node, { draw, width: widthOf(node) });
  }

  // ------------------------------------------------------------------ heatmap
  /**
   * A confusion matrix: rows are true labels, columns predictions; cells show counts, coloured
   * by the row-normalised value. Cells: rect.cell[data-row][data-col][data-value] (label names,
   * raw count) with data-i/data-j (indices) and data-norm.
   */
  function heatmap(node, { labels, matrix, rowTitle = "true", colTitle = "predicted" }) {
    responsive(node, () => {
      const width = widthOf(node);
      const n = labels.length;
      const longest = Math.max(...labels.map((l) => String(l).length), 4);
      const left = Math.min(Math.round(width * 0.35), longest * CHAR + 28);
      const cell = Math.max(28, Math.min(90, Math.floor((width - left - 10) / Math.max(n, 1))));
      const colChars = Math.max(3, Math.floor(cell / CHAR));
      const rotate = labels.some((l) => String(l).length > colChars);
      const top = rotate ? Math.min(140, Math.min(longest, 18) * CHAR * 0.75 + 34) : 44;
      const height = top + n * cell + 10;
      reset(node, Math.max(width, left + n * cell + 10), height, `confusion matrix: ${colTitle} (columns) against ${rowTitle} (rows)`);
      node.append(
        svg("text", { x: left + (n * cell) / 2, y: 14, "text-anchor": "middle", class: "axis-title" }, colTitle + " →"),
        svg("text", { x: 12, y: top + (n * cell) / 2, "text-anchor": "middle", class: "axis-title",
          transform: `rotate(-90 12 ${top + (n * cell) / 2})` }, rowTitle + " →"),
      );
      labels.forEach((label, j) => {
        const x = left + j * cell + cell / 2;
        const attrs = rotate
          ? { x, y: top - 6, "text-anchor": "start", transform: `rotate(-40 ${x} ${top - 6})`, class: "tick-label" }
          : { x, y: top - 8, "text-anchor": "middle", class: "tick-label" };
        node.append(svg("text", attrs, svg("title", {}, label), rotate ? clip(label, 18) : clip(label, colChars)));
      });
      matrix.forEach((row, i) => {
        const total = row.reduce((a, b) => a + b, 0);
        const y = top + i * cell;
        node.append(svg("text", { x: left - 6, y: y + cell / 2 + 4, "text-anchor": "end", class: "tick-label" },
          svg("title", {}, labels[i]), clip(labels[i], Math.floor((left - 26) / CHAR))));
        row.forEach((count, j) => {
          const norm = total ? count / total : 0;
          const x = left + j * cell;
          const pct = total ? ` (${(norm * 100).toFixed(1)}% of true ${labels[i]})` : "";
          node.append(
            svg("rect", {
              x, y, width: cell - 2, height: cell - 2, rx: 3, fill: shade(norm), stroke: "#d8dde6",
              class: "cell" + (i === j ? " diagonal" : ""), "data-row": labels[i], "data-col": labels[j],
              "data-i": i, "data-j": j, "data-value": count, "data-norm": norm,
            }, svg("title", {}, `true ${labels[i]}, predicted ${labels[j]}: ${count}${pct}`)),
            svg("text", {
              x: x + (cell - 2) / 2, y: y + (cell - 2) / 2 + 4, "text-anchor": "middle", class: "cell-text",
              fill: norm > 0.55 ? "#fff" : "#1d2330", "pointer-events": "none",
            }, String(count)),
          );
        });
      });
    });
  }

  // ------------------------------------------------------------------ horizontal bars
  /**
   * Horizontal bars: items [{label, value, title?, colour?, attrs?}]; rect.bar[data-label][data-value].
   * `max` fixes the scale (e.g. 1 for scores); `digits` formats the value printed after each bar.
   */
  function bars(node, items, { max = null, digits = 3, name = "bar chart", colour = "#2457c5" } = {}) {
    responsive(node, () => {
      const width = widthOf(node);
      const rowH = 22, gap = 6, top = 6;
      const longest = Math.max(...items.map((d) => String(d.label).length), 4);
      const left = Math.min(Math.round(width * 0.45), longest * CHAR + 12);
      const right = 10 + (digits + 3) * CHAR;
      const scaleMax = max ?? Math.max(...items.map((d) => d.value), 1e-12);
      const span = Math.max(20, width - left - right);
      const height = top + items.length * (rowH + gap) + 18;
      reset(node, width, height, name);
      // A light grid at quarters of the scale.
      for (let q = 0; q <= 4; q++) {
        const x = left + (span * q) / 4;
        node.append(
          svg("line", { x1: x, x2: x, y1: top - 2, y2: height - 16, class: "gridline" }),
          svg("text", { x, y: height - 4, "text-anchor": "middle", class: "tick-label small" }, +(scaleMax * q / 4).toPrecision(3)),
        );
      }
      items.forEach((d, k) => {
        const y = top + k * (rowH + gap);
        const w = scaleMax > 0 ? Math.max(0, (d.value / scaleMax) * span) : 0;
        node.append(
          svg("text", { x: left - 6, y: y + rowH / 2 + 4, "text-anchor": "end", class: "tick-label" },
            svg("title", {}, d.label), clip(d.label, Math.floor((left - 10) / CHAR))),
          svg("rect", {
            x: left, y, width: w, height: rowH, rx: 2, fill: d.colour || colour, class: "bar",
            "data-label": d.label, "data-value": d.value, ...(d.attrs || {}),
          }, svg("title", {}, d.title || `${d.label}: ${d.value}`)),
          svg("text", { x: left + w + 5, y: y + rowH / 2 + 4, class: "bar-value" }, taskml.fmt(d.value, digits)),
        );
      });
    });
  }

  // ------------------------------------------------------------------ timeline lanes
  function niceStep(range, target) {
    const raw = range / Math.max(target, 1);
    const p = 10 ** Math.floor(Math.log10(raw || 1));
    return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) || raw;
  }

  /**
   * Lanes over time: lanes [{name, key, segments: [{start, end, label, title?, attrs?, opacity?}]}],
   * coloured by label; `marks` [{start, end, drawEnd?, title}] are drawn as a thin red strip under the last
   * lane (e.g. mistakes). A segment is drawn from its start up to the next one's start so
   * overlapping windows stay visible; its data-start/data-end keep the raw window.
   */
  function lanes(node, { lanes: rows, labels, marks = [], name = "timeline" }) {
    responsive(node, () => {
      const width = widthOf(node);
      const all = rows.flatMap((r) => r.segments);
      const t0 = Math.min(...all.map((s) => s.start));
      const t1 = Math.max(...all.map((s) => s.end));
      const left = Math.min(90, Math.max(...rows.map((r) => r.name.length)) * CHAR + 12);
      const right = 12, laneH = 24, gap = 6, top = 4;
      const span = Math.max(20, width - left - right);
      const x = (t) => left + ((t - t0) / Math.max(t1 - t0, 1e-9)) * span;
      const markY = top + rows.length * (laneH + gap);
      const axisY = markY + (marks.length ? 10 : 0) + 4;
      const height = axisY + 22;
      reset(node, width, height, name);
      rows.forEach((row, r) => {
        const y = top + r * (laneH + gap);
        node.append(svg("text", { x: left - 6, y: y + laneH / 2 + 4, "text-anchor": "end", class: "tick-label" }, row.name));
        node.append(svg("rect", { x: left, y, width: span, height: laneH, class: "lane-bg" }));
        const segs = row.segments;
        segs.forEach((s, k) => {
          const next = segs[k + 1];
          const end = next && next.start < s.end && next.start > s.start ? next.start : s.end;
          node.append(svg("rect", {
            x: x(s.start), y, width: Math.max(1, x(end) - x(s.start)), height: laneH,
            fill: taskml.colour(s.label, labels), "fill-opacity": s.opacity ?? 1, class: "segment", "shape-rendering": "crispEdges",
            "data-lane": row.key || row.name, "data-label": s.label, "data-start": s.start, "data-end": s.end,
            ...(s.attrs || {}),
          }, svg("title", {}, s.title || `${s.start}–${s.end} s: ${s.label}`)));
        });
      });
      marks.forEach((m) => {
        const end = m.drawEnd ?? m.end;
        node.append(svg("rect", {
          x: x(m.start), y: markY, width: Math.max(1, x(end) - x(m.start)), height: 5, class: "miss",
          "data-start": m.start, "data-end": m.end,
        }, svg("title", {}, m.title || "mismatch")));
      });
      node.append(svg("line", { x1: left, x2: left + span, y1: axisY, y2: axisY, class: "axis" }));
      const step = niceStep(t1 - t0, Math.max(2, Math.floor(span / 70)));
      for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) {
        node.append(
          svg("line", { x1: x(t), x2: x(t), y1: axisY, y2: axisY + 4, class: "axis" }),
          svg("text", { x: x(t), y: axisY + 16, "text-anchor": "middle", class: "tick-label small" }, `${+t.toFixed(2)}s`),
        );
      }
    });
  }

  /** An HTML legend: one swatch per label, in the colours the charts use. */
  function legend(labels, extra = []) {
    return el("ul", { class: "legend", "aria-label": "legend" },
      labels.map((label) => el("li", {}, el("span", { class: "swatch", style: `background:${taskml.colour(label, labels)}` }), label)),
      extra.map(([cls, text]) => el("li", {}, el("span", { class: `swatch ${cls}` }), text)));
  }

  return { heatmap, bars, lanes, legend, shade };
})();
