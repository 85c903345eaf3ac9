/* The suggestions lane (active learning): the open spans of the latest labelling round for this
   video, coloured by uncertainty; each can be accepted (its predicted label), corrected (the label
   chosen in the panel) or rejected, by button or by A / C / R once selected. "Suggest spans" starts
   a round with the chosen model. */
import { $, all, api, clamp, clearError, el, fmt, isTerminal, report, state, toast, videoPk } from "./context.js";
import { seek } from "./player.js";
import { loadSpans, place } from "./timeline.js";

const suggestionModel = $("suggestion-model");
const startRoundButton = $("start-round");
const roundStatus = $("round-status");
const suggestionLane = $("lane-suggestions");
const suggestionPanel = $("suggestion-panel");
const suggestionInfo = $("suggestion-info");
const suggestionLabel = $("suggestion-label");
const roundActions = $("round-actions");
const suggestions = { round: null, selected: null, timer: null, busy: false };

function uncertaintyColour(u) {
  const x = clamp(Number(u) || 0, 0, 1);
  return `hsl(${Math.round(45 * (1 - x))} ${Math.round(90 - 10 * x)}% ${Math.round(55 - 10 * x)}%)`;
}

const openSpans = () => (suggestions.round ? suggestions.round.spans.filter((s) => s.status === "open") : []);

function describeRound(r) {
  if (!r) return "no round for this video yet";
  const base = `round ${r.id} (${r.model_file})`;
  if (r.status === "failed") return `${base}: failed: ${(r.job && r.job.error) || "no reason given"}`;
  if (r.state === "suggesting") return `${base}: finding uncertain spans…`;
  if (r.state === "open") return `${base}: ${openSpans().length} of ${r.spans_shown} spans open · ${r.labels_added} labelled`;
  if (r.state === "retraining") return `${base}: retraining…`;
  const after = r.accuracy_after === null ? "" : ` · accuracy ${fmt(r.accuracy_before, 3)} → ${fmt(r.accuracy_after, 3)}`;
  return `${base}: closed${r.retrained_model_file ? `, retrained as ${r.retrained_model_file}` : ""}${after}`;
}

function renderSuggestions() {
  const r = suggestions.round;
  roundStatus.textContent = describeRound(r);
  suggestionLane.replaceChildren();
  const spans = r && r.state === "open" ? openSpans() : [];
  for (const span of spans) {
    const node = el(
      "div",
      {
        class: "suggestion" + (span.id === suggestions.selected ? " selected" : ""),
        role: "button",
        tabindex: 0,
        "data-suggestion-id": span.id,
        "data-rank": span.rank,
        "data-start": span.start_frame,
        "data-end": span.end_frame,
        "data-uncertainty": span.uncertainty,
        "aria-pressed": span.id === suggestions.selected ? "true" : "false",
        "aria-label": `Suggestion ${span.rank}: ${span.predicted_label}, frames ${span.start_frame} to ${span.end_frame}, uncertainty ${fmt(span.uncertainty, 2)}`,
        title: `#${span.rank} ${span.predicted_label} (confidence ${fmt(span.confidence, 2)}, uncertainty ${fmt(span.uncertainty, 2)}): frames ${span.start_frame}–${span.end_frame}`,
      },
      el("span", { class: "span-text" }, `#${span.rank} ${span.predicted_label}`),
    );
    place(node, span.start_frame, span.end_frame);
    node.style.background = uncertaintyColour(span.uncertainty);
    suggestionLane.append(node);
  }
  if (!spans.length) {
    const text = !r ? "Pick a model and press “Suggest spans”." : r.state === "open" ? "Every span of this round is decided: close it." : describeRound(r);
    suggestionLane.append(el("span", { class: "lane-empty muted small" }, text));
  }
  if (!spans.some((s) => s.id === suggestions.selected)) suggestions.selected = null;
  const selected = spans.find((s) => s.id === suggestions.selected);
  suggestionPanel.hidden = !selected;
  if (selected) {
    suggestionInfo.textContent =
      `#${selected.rank}: frames ${selected.start_frame}–${selected.end_frame} (${selected.start_time.toFixed(2)}–${selected.end_time.toFixed(2)} s), ` +
      `predicted “${selected.predicted_label}”, confidence ${fmt(selected.confidence, 2)}, uncertainty ${fmt(selected.uncertainty, 2)}` +
      (selected.reasons.length ? ` (${selected.reasons.join(", ").replaceAll("_", " ")})` : "");
    const names = [...new Set([...state.labels, selected.predicted_label])];
    const keep = suggestionLabel.value;
    suggestionLabel.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    const preferred = names.includes(keep) ? keep : names.find((n) => n !== selected.predicted_label) || names[0];
    suggestionLabel.value = preferred;
  }
  roundActions.hidden = !(r && r.state === "open");
}

function selectSuggestion(id) {
  suggestions.selected = id;
  const span = openSpans().find((s) => s.id === id);
  if (span) seek(span.start_frame);
  renderSuggestions();
  const node = suggestionLane.querySelector(`[data-suggestion-id="${id}"]`);
  if (node) node.focus({ preventScroll: true });
}

suggestionLane.addEventListener("click", (event) => {
  const node = event.target instanceof Element ? event.target.closest(".suggestion") : null;
  if (node) selectSuggestion(Number(node.dataset.suggestionId));
});
suggestionLane.addEventListener("keydown", (event) => {
  const node = event.target instanceof Element ? event.target.closest(".suggestion") : null;
  if (node && (event.key === "Enter" || event.key === " ")) {
    event.preventDefault();
    selectSuggestion(Number(node.dataset.suggestionId));
  }
});

export async function loadRound() {
  clearTimeout(suggestions.timer);
  try {
    const page = await api("GET", `/api/v1/labelling-rounds/?videos=${videoPk}&ordering=-created_at`);
    const rounds = Array.isArray(page) ? page : page.results;
    suggestions.round = rounds.length ? rounds[0] : null;
  } catch (error) {
    report(error, "suggestion-error");
  }
  renderSuggestions();
  const r = suggestions.round;
  if (r && (r.state === "suggesting" || r.state === "retraining") && !isTerminal(r.status)) {
    suggestions.timer = setTimeout(loadRound, 1500); // the round's job is running: look again soon
  }
  startRoundButton.disabled = !suggestionModel.value || Boolean(r && r.state === "suggesting" && !isTerminal(r.status));
}

export async function loadSuggestionModels() {
  try {
    const models = await all("/api/v1/models/?status=succeeded&ordering=-created_at&compact=true");
    if (!models.length) {
      suggestionModel.replaceChildren(el("option", { value: "" }, "no trained models yet"));
      suggestionModel.disabled = true;
      startRoundButton.disabled = true;
      return;
    }
    suggestionModel.replaceChildren(
      ...models.map((m) => el("option", { value: m.id }, `${m.version_label || m.filename} · ${m.model_type} · acc ${fmt(m.accuracy, 2)}`)),
    );
    suggestionModel.disabled = false;
    startRoundButton.disabled = false;
  } catch (error) {
    suggestionModel.replaceChildren(el("option", { value: "" }, "could not load models"));
    startRoundButton.disabled = true;
    report(error, "suggestion-error");
  }
}

startRoundButton.addEventListener("click", async () => {
  const model = Number(suggestionModel.value);
  if (!model) return;
  clearError("suggestion-error");
  startRoundButton.disabled = true;
  try {
    suggestions.round = await api("POST", "/api/v1/labelling-rounds/", { model, videos: [videoPk] });
    suggestions.selected = null;
    renderSuggestions();
    loadRound();
  } catch (error) {
    startRoundButton.disabled = false;
    report(error, "suggestion-error");
  }
});

/** Whether a suggestion is selected (A, C and R decide it). */
export function suggestionSelected() { return suggestions.selected !== null; }

/** Drop the selection (Esc). */
export function deselectSuggestion() {
  if (suggestions.selected !== null) { suggestions.selected = null; renderSuggestions(); }
}

export async function decide(decision) {
  const id = suggestions.selected;
  if (id === null || suggestions.busy) return;
  const body = decision === "correct" ? { label: suggestionLabel.value } : undefined;
  if (decision === "correct" && !body.label) { report("Choose the label to correct to.", "suggestion-error"); return; }
  clearError("suggestion-error");
  suggestions.busy = true;
  try {
    const saved = await api("POST", `/api/v1/suggested-spans/${id}/${decision}/`, body);
    const spans = suggestions.round.spans;
    spans[spans.findIndex((s) => s.id === id)] = saved;
    if (saved.status !== "rejected") suggestions.round.labels_added += 1;
    const next = openSpans()[0];
    suggestions.selected = next ? next.id : null;
    toast(saved.status === "rejected" ? `Suggestion #${saved.rank} rejected` : `Frames ${saved.start_frame}–${saved.end_frame} labelled “${saved.final_label}”`);
    renderSuggestions();
    if (next) suggestionLane.querySelector(`[data-suggestion-id="${next.id}"]`)?.focus({ preventScroll: true });
    if (saved.status !== "rejected") loadSpans();
  } catch (error) {
    report(error, "suggestion-error");
    loadRound();
  } finally {
    suggestions.busy = false;
  }
}

$("accept-suggestion").addEventListener("click", () => decide("accept"));
$("correct-suggestion").addEventListener("click", () => decide("correct"));
$("reject-suggestion").addEventListener("click", () => decide("reject"));

async function closeRound(retrain) {
  if (!suggestions.round) return;
  clearError("suggestion-error");
  try {
    suggestions.round = await api("POST", `/api/v1/labelling-rounds/${suggestions.round.id}/close/`, { retrain });
    toast(retrain ? "Round closed: retraining…" : "Round closed");
    loadRound();
  } catch (error) {
    report(error, "suggestion-error");
  }
}
$("close-round").addEventListener("click", () => closeRound(false));
$("close-retrain").addEventListener("click", () => closeRound(true));
