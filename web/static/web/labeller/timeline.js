/* The timeline: the ruler, the spans (select, resize by their edges, edit, delete, all saved at
   once through /api/v1/label-spans/), the marks of a new span, and the playhead. */
import {
  $, all, api, boundaryAtTime, clamp, clearError, colour, duration, el, frames, lastFrame, report, seconds, state, toast,
  videoPk,
} from "./context.js";
import { isClickedControl } from "./keyboard.js";
import { knowLabel, renderLabels, storedLabels } from "./labels.js";
import { seek, setPlaying } from "./player.js";

export const timeline = $("timeline");
const track = $("span-track");
const ruler = timeline.querySelector(".ruler");
const playhead = timeline.querySelector(".playhead");
const markRange = timeline.querySelector(".mark-range");
/** A frame's left edge as a share of the timeline's width. */
export function pct(frame) { return `${(frame / frames) * 100}%`; }
playhead.style.width = pct(1); // a frame wide: the playhead covers exactly the frame shown

/** Position a lane item over frames start..end. */
export function place(node, start, end) {
  node.style.left = pct(start);
  node.style.width = pct(end - start + 1);
}

/** Frame under a pointer x (for seeking). */
function frameAt(clientX) {
  const rect = track.getBoundingClientRect();
  return clamp(Math.floor(((clientX - rect.left) / rect.width) * frames), 0, lastFrame);
}
/** Frame boundary nearest a pointer x: b is the edge between frames b-1 and b (for resizing). */
function edgeAt(clientX) {
  const rect = track.getBoundingClientRect();
  return clamp(Math.round(((clientX - rect.left) / rect.width) * frames), 0, frames);
}

export function renderRuler() {
  const width = timeline.clientWidth || 800;
  const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const stepSec = steps.find((s) => (width * s) / duration >= 70) || 3600;
  const label = (t) => (duration >= 60 ? `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, "0")}` : `${+t.toFixed(1)}s`);
  ruler.replaceChildren();
  for (let t = 0; t <= duration + 1e-9; t += stepSec) {
    const tick = el("span", { class: "tick" }, label(t));
    tick.style.left = pct(boundaryAtTime(t));
    ruler.append(tick);
  }
}

function sortedSpans() {
  return [...state.spans.values()].sort((a, b) => a.start_frame - b.start_frame || a.end_frame - b.end_frame || a.id - b.id);
}

export function renderSpans() {
  const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest(".span");
  const refocus = focused ? focused.dataset.spanId : null;
  const rowEnds = []; // overlapping spans go on rows below each other
  track.replaceChildren();
  for (const span of sortedSpans()) {
    let row = rowEnds.findIndex((end) => end < span.start_frame);
    if (row === -1) { row = rowEnds.length; rowEnds.push(span.end_frame); } else rowEnds[row] = span.end_frame;
    const node = el(
      "div",
      {
        class: "span" + (span.id === state.selected ? " selected" : ""),
        role: "button",
        tabindex: 0,
        "data-span-id": span.id,
        "data-start": span.start_frame,
        "data-end": span.end_frame,
        "data-label": span.label,
        "aria-pressed": span.id === state.selected ? "true" : "false",
        "aria-label": `${span.label}, frames ${span.start_frame} to ${span.end_frame}`,
        title: `${span.label}: frames ${span.start_frame}–${span.end_frame} (${seconds(span.start_frame).toFixed(2)}–${seconds(span.end_frame + 1).toFixed(2)} s)`,
      },
      el("span", { class: "handle start", "data-edge": "start", "aria-hidden": "true" }),
      el("span", { class: "span-text" }, span.label),
      el("span", { class: "handle end", "data-edge": "end", "aria-hidden": "true" }),
    );
    place(node, span.start_frame, span.end_frame);
    node.style.setProperty("--row", row);
    node.style.setProperty("--colour", colour(span.label, state.labels));
    track.append(node);
  }
  track.style.setProperty("--rows", Math.max(1, rowEnds.length));
  if (refocus) {
    const again = track.querySelector(`[data-span-id="${refocus}"]`);
    if (again) again.focus({ preventScroll: true });
  }
}

/** The playhead at the current frame (and the timeline's value for assistive technology). */
export function showPlayhead() {
  timeline.setAttribute("aria-valuenow", state.frame);
  timeline.setAttribute("aria-valuetext", `frame ${state.frame}, ${seconds(state.frame).toFixed(2)} seconds`);
  playhead.style.left = pct(state.frame);
  renderMarks();
}

export function renderMarks() {
  const marks = $("marks");
  if (state.markStart === null && state.markEnd === null) {
    markRange.hidden = true;
    marks.replaceChildren("Press ", el("kbd", {}, "["), " and ", el("kbd", {}, "]"), " to mark frames.");
    return;
  }
  const start = state.markStart ?? state.markEnd;
  const end = state.markEnd ?? state.frame;
  const [a, b] = start <= end ? [start, end] : [end, start];
  markRange.hidden = false;
  place(markRange, a, b);
  const label = state.label ? ` as “${state.label}”` : " (pick a label)";
  marks.textContent =
    `start ${state.markStart ?? "–"}, end ${state.markEnd ?? `– (now ${state.frame})`}: ` +
    `frames ${a}–${b}${label}; Enter adds it.`;
}

export function renderAll() {
  renderLabels();
  renderSpans();
  renderEditor();
  renderMarks();
}

// ------------------------------------------------------------------ pointer: seek, select, resize

timeline.addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;
  const spanNode = event.target.closest(".span");
  const handle = event.target.closest(".handle");
  if (spanNode && handle) { startResize(event, spanNode, handle.dataset.edge); return; }
  if (spanNode) { select(Number(spanNode.dataset.spanId)); return; }
  event.preventDefault();
  timeline.focus({ preventScroll: true });
  timeline.setPointerCapture(event.pointerId);
  seek(frameAt(event.clientX));
  const move = (e) => seek(frameAt(e.clientX));
  const up = () => {
    timeline.removeEventListener("pointermove", move);
    timeline.removeEventListener("pointerup", up);
    timeline.removeEventListener("pointercancel", up);
  };
  timeline.addEventListener("pointermove", move);
  timeline.addEventListener("pointerup", up);
  timeline.addEventListener("pointercancel", up);
});

track.addEventListener("dblclick", (event) => {
  const spanNode = event.target.closest(".span");
  if (spanNode && !event.target.closest(".handle")) seek(Number(spanNode.dataset.start));
});

track.addEventListener("keydown", (event) => {
  const spanNode = event.target.closest(".span");
  if (!spanNode || isClickedControl(spanNode) || (event.key !== "Enter" && event.key !== " ")) return;
  event.preventDefault();
  event.stopPropagation();
  const id = Number(spanNode.dataset.spanId);
  select(id === state.selected ? null : id);
});

function startResize(event, node, edge) {
  event.preventDefault();
  event.stopPropagation();
  const id = Number(node.dataset.spanId);
  const span = state.spans.get(id);
  if (!span) return;
  if (state.playing) setPlaying(false);
  select(id);
  let start = span.start_frame;
  let end = span.end_frame;
  node.classList.add("resizing");
  node.setPointerCapture(event.pointerId);
  const move = (e) => {
    const boundary = edgeAt(e.clientX);
    if (edge === "start") start = clamp(boundary, 0, end);
    else end = clamp(boundary - 1, start, lastFrame);
    place(node, start, end);
    node.dataset.start = start;
    node.dataset.end = end;
    $("span-info").textContent = `${span.label}: frames ${start}–${end} (${end - start + 1} frames), release to save`;
    seek(edge === "start" ? start : end); // show the frame at the edge being moved
  };
  const up = () => {
    node.removeEventListener("pointermove", move);
    node.removeEventListener("pointerup", up);
    node.removeEventListener("pointercancel", up);
    node.classList.remove("resizing");
    if (start !== span.start_frame || end !== span.end_frame) patchSpan(id, { start_frame: start, end_frame: end });
    else renderAll();
  };
  node.addEventListener("pointermove", move);
  node.addEventListener("pointerup", up);
  node.addEventListener("pointercancel", up);
}

// ------------------------------------------------------------------ spans through the API

export async function loadSpans() {
  try {
    const spans = await all(`/api/v1/label-spans/?video=${videoPk}&ordering=start_frame`);
    state.spans = new Map(spans.map((s) => [s.id, s]));
    for (const label of [...new Set(spans.map((s) => s.label))].sort()) knowLabel(label);
    for (const label of storedLabels()) knowLabel(label);
    if (!state.label && state.labels.length) state.label = state.labels[0];
  } catch (error) {
    report(error, "span-error");
  }
  renderAll();
}

let saving = false;
async function patchSpan(id, changes) {
  clearError("span-error");
  try {
    const saved = await api("PATCH", `/api/v1/label-spans/${id}/`, changes);
    state.spans.set(saved.id, saved);
    knowLabel(saved.label);
  } catch (error) {
    report(error, "span-error");
    if (error.status === 404) { state.spans.delete(id); if (state.selected === id) state.selected = null; }
  }
  renderAll(); // the server's answer (or the unchanged span when it refused)
}

export async function createSpan() {
  clearError("span-error");
  if (saving) return;
  if (!state.label) {
    report("Pick a label first (or add one).", "span-error");
    $("new-label").focus();
    return;
  }
  if (state.markStart === null && state.markEnd === null) {
    report("Mark the span first: [ at its first frame, ] at its last.", "span-error");
    return;
  }
  let start = state.markStart ?? state.frame;
  let end = state.markEnd ?? state.frame;
  if (end < start) [start, end] = [end, start];
  saving = true;
  try {
    const span = await api("POST", "/api/v1/label-spans/", {
      video: videoPk, start_frame: start, end_frame: end, label: state.label, source: "browser",
    });
    state.spans.set(span.id, span);
    knowLabel(span.label);
    state.selected = span.id;
    state.markStart = state.markEnd = null;
    toast(`Added “${span.label}”, frames ${span.start_frame}–${span.end_frame}`);
  } catch (error) {
    report(error, "span-error");
  } finally {
    saving = false;
  }
  renderAll();
}

export async function deleteSpan() {
  const id = state.selected;
  if (id === null) return;
  clearError("span-error");
  try {
    await api("DELETE", `/api/v1/label-spans/${id}/`);
    state.spans.delete(id);
    state.selected = null;
  } catch (error) {
    report(error, "span-error");
    if (error.status === 404) { state.spans.delete(id); state.selected = null; }
  }
  renderAll();
}

/** Selection changes classes in place: re-rendering would drop the node under the pointer. */
export function select(id) {
  state.selected = id !== null && state.spans.has(id) ? id : null;
  for (const node of track.querySelectorAll(".span")) {
    const on = Number(node.dataset.spanId) === state.selected;
    node.classList.toggle("selected", on);
    node.setAttribute("aria-pressed", on ? "true" : "false");
  }
  renderEditor();
}

export function renderEditor() {
  const span = state.selected !== null ? state.spans.get(state.selected) : null;
  const labelSelect = $("span-label");
  for (const id of ["span-label", "span-start-here", "span-end-here", "delete-span"]) $(id).disabled = !span;
  if (!span) {
    $("span-info").textContent = "None: click a span on the timeline.";
    labelSelect.replaceChildren();
    return;
  }
  $("span-info").textContent =
    `${span.label}: frames ${span.start_frame}–${span.end_frame} (${span.end_frame - span.start_frame + 1} frames, ` +
    `${seconds(span.start_frame).toFixed(2)}–${seconds(span.end_frame + 1).toFixed(2)} s), from ${span.source}`;
  const names = state.labels.includes(span.label) ? state.labels : [...state.labels, span.label];
  labelSelect.replaceChildren(...names.map((name) => el("option", { value: name, selected: name === span.label }, name)));
}

$("span-label").addEventListener("change", (e) => {
  if (state.selected !== null) patchSpan(state.selected, { label: e.target.value });
});
$("span-start-here").addEventListener("click", () => {
  if (state.selected !== null) patchSpan(state.selected, { start_frame: state.frame });
});
$("span-end-here").addEventListener("click", () => {
  if (state.selected !== null) patchSpan(state.selected, { end_frame: state.frame });
});
$("delete-span").addEventListener("click", deleteSpan);
$("add-span").addEventListener("click", createSpan);
export function markStart() { state.markStart = state.frame; renderMarks(); }
export function markEnd() { state.markEnd = state.frame; renderMarks(); }
$("mark-start").addEventListener("click", markStart);
$("mark-end").addEventListener("click", markEnd);
