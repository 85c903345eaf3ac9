/* The labels: the current one, the list (with counts on this video), names added by hand and
   kept in the browser for every video. */
import { $, clearError, colour, el, state } from "./context.js";
import { renderAll, renderEditor, renderMarks, renderSpans } from "./timeline.js";

const STORE = "taskml.labels"; // names added by hand, offered on every video
export function storedLabels() {
  try {
    const names = JSON.parse(localStorage.getItem(STORE) || "[]");
    return Array.isArray(names) ? names.filter((n) => typeof n === "string" && n.trim()) : [];
  } catch (e) {
    return [];
  }
}
function storeLabels(names) {
  try { localStorage.setItem(STORE, JSON.stringify(names)); } catch (e) { /* private mode: the list lives for this page */ }
}
export function knowLabel(name) {
  if (name && !state.labels.includes(name)) state.labels.push(name);
}

export function setCurrentLabel(name) {
  state.label = name;
  renderLabels();
  renderMarks();
}

export function renderLabels() {
  const counts = new Map();
  for (const s of state.spans.values()) counts.set(s.label, (counts.get(s.label) || 0) + 1);
  const list = $("labels");
  list.replaceChildren();
  if (!state.labels.length) {
    list.append(el("li", { class: "muted small" }, "No labels yet: add one below."));
  }
  state.labels.forEach((name, i) => {
    const current = name === state.label;
    const count = counts.get(name) || 0;
    const chip = el(
      "button",
      {
        type: "button",
        class: "label-chip" + (current ? " current" : ""),
        "data-label": name,
        "aria-pressed": current ? "true" : "false",
        title: i < 9 ? `Make “${name}” the current label (${i + 1})` : `Make “${name}” the current label`,
        onclick: () => setCurrentLabel(name),
      },
      el("span", { class: "swatch", "aria-hidden": "true", style: `background:${colour(name, state.labels)}` }),
      i < 9 ? el("kbd", { "aria-hidden": "true" }, String(i + 1)) : "",
      el("span", { class: "label-name" }, name),
      el("span", { class: "count muted", title: `${count} span(s) on this video` }, String(count)),
    );
    const item = el("li", { class: current ? "current" : "" }, chip);
    if (!count) {
      item.append(
        el("button", {
          type: "button",
          class: "icon secondary remove-label",
          "aria-label": `Remove label ${name} from the list`,
          title: "Remove from the list (no span uses it here)",
          onclick: () => removeLabel(name),
        }, "×"),
      );
    }
    list.append(item);
  });
  $("current-label").textContent = state.label || "none";
  if (state.label) $("current-label").style.color = colour(state.label, state.labels);
}

function addLabel(raw) {
  const name = raw.trim();
  clearError("label-error");
  if (!name) { $("label-error").textContent = "Type a label name."; return false; }
  if (name.length > 100) { $("label-error").textContent = "Label names have at most 100 characters."; return false; }
  knowLabel(name);
  const stored = storedLabels();
  if (!stored.includes(name)) storeLabels([...stored, name]);
  setCurrentLabel(name);
  renderSpans();
  renderEditor();
  return true;
}

function removeLabel(name) {
  storeLabels(storedLabels().filter((n) => n !== name));
  if ([...state.spans.values()].some((s) => s.label === name)) return;
  state.labels = state.labels.filter((n) => n !== name);
  if (state.label === name) state.label = state.labels[0] || null;
  renderAll();
}

$("label-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("new-label");
  if (addLabel(input.value)) input.value = "";
});
