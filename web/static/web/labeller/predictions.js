/* The predictions lane: a trained model run over this video (a live session with realtime false,
   its windows arriving over ws/streams/<id>/), one block per window, shaded by confidence. */
import {
  $, all, api, boundaryAtTime, clamp, colour, el, fmt, frames, lastFrame, report, socket, state, videoPk,
} from "./context.js";
import { place } from "./timeline.js";

const modelSelect = $("prediction-model");
const runButton = $("run-predictions");
const stopButton = $("stop-predictions");
const predictionStatus = $("prediction-status");
const lane = $("lane-predictions");
const prediction = { session: null, ws: null, windows: new Map(), labels: null, pending: false };

export async function loadModels() {
  try {
    const models = await all("/api/v1/models/?status=succeeded&ordering=-created_at");
    if (!models.length) {
      modelSelect.replaceChildren(el("option", { value: "" }, "no trained models yet"));
      modelSelect.disabled = true;
      runButton.disabled = true;
      return;
    }
    modelSelect.replaceChildren(
      ...models.map((m) =>
        el("option", { value: m.id },
          `${m.version_label || m.filename} · ${m.model_type} · ${m.dataset_dir || "dataset"} · acc ${fmt(m.accuracy, 2)}`),
      ),
    );
    modelSelect.disabled = false;
    runButton.disabled = false;
  } catch (error) {
    modelSelect.replaceChildren(el("option", { value: "" }, "could not load models"));
    runButton.disabled = true;
    report(error);
  }
}

function predictionsDone(text) {
  predictionStatus.textContent = text;
  stopButton.hidden = true;
  runButton.disabled = false;
  if (prediction.ws) { prediction.ws.close(); prediction.ws = null; }
}

async function runPredictions() {
  const model = Number(modelSelect.value);
  if (!model) return;
  if (prediction.ws) { prediction.ws.close(); prediction.ws = null; }
  prediction.windows = new Map();
  prediction.labels = null;
  renderLane();
  runButton.disabled = true;
  predictionStatus.textContent = "starting…";
  try {
    const session = await api("POST", "/api/v1/live-sessions/", { model, source: "video", video: videoPk, realtime: false });
    prediction.session = session;
    stopButton.hidden = false;
    predictionStatus.textContent = `session ${session.id}: ${session.status}`;
    prediction.ws = socket(session.websocket || `/ws/streams/${session.id}/`, onPredictionMessage);
  } catch (error) {
    predictionsDone("");
    report(error);
  }
}

function onPredictionMessage(message) {
  switch (message.stage) {
    case "hello":
      if (message.status === "finished" || message.status === "failed" || message.status === "stopped") {
        predictionsDone(`session ${message.session}: ${message.status} before the page joined; run it again to see its windows`);
      } else predictionStatus.textContent = `session ${message.session}: ${message.status}…`;
      break;
    case "started":
      if (Array.isArray(message.labels)) prediction.labels = message.labels;
      predictionStatus.textContent = "running…";
      break;
    case "sample": {
      if (message.window && message.task_prediction !== null && message.task_prediction !== undefined) {
        const key = `${message.window.start}|${message.window.end}`;
        if (!prediction.windows.has(key)) {
          prediction.windows.set(key, {
            start: message.window.start, end: message.window.end,
            label: message.task_prediction, confidence: message.task_confidence ?? 1,
          });
          scheduleLane();
        }
      }
      predictionStatus.textContent =
        `frame ${message.frame_index} / ${frames} · ${prediction.windows.size} windows` +
        (message.dropped ? ` · ${message.dropped} updates skipped` : "");
      break;
    }
    case "alert":
      report(message.message);
      predictionStatus.textContent = message.message;
      break;
    case "finished":
      predictionsDone(`${message.status}: ${message.windows ?? prediction.windows.size} windows over ${message.frames ?? "?"} frames`);
      renderLane();
      break;
    default:
      break;
  }
}

let laneQueued = false;
function scheduleLane() {
  if (laneQueued) return;
  laneQueued = true;
  requestAnimationFrame(() => { laneQueued = false; renderLane(); });
}

/** Windows overlap (a window of w seconds every step): each is drawn over the stretch around its
    centre that is nearer to it than to its neighbours' centres, so the lane reads as one label per moment. */
export function renderLane() {
  const windows = [...prediction.windows.values()].sort((a, b) => a.start - b.start || a.end - b.end);
  lane.replaceChildren();
  const centre = (w) => (w.start + w.end) / 2;
  windows.forEach((w, i) => {
    const from = i === 0 ? w.start : (centre(windows[i - 1]) + centre(w)) / 2;
    const to = i === windows.length - 1 ? w.end : (centre(w) + centre(windows[i + 1])) / 2;
    const startFrame = clamp(boundaryAtTime(from), 0, lastFrame);
    const endFrame = clamp(boundaryAtTime(to) - 1, startFrame, lastFrame);
    const block = el(
      "div",
      {
        class: "prediction",
        "data-label": w.label,
        "data-start": startFrame,
        "data-end": endFrame,
        "data-confidence": w.confidence,
        title: `${w.label} (confidence ${fmt(w.confidence, 2)}), window ${w.start.toFixed(2)}–${w.end.toFixed(2)} s`,
      },
      el("span", { class: "span-text" }, w.label),
    );
    place(block, startFrame, endFrame);
    block.style.background = colour(w.label, state.labels.includes(w.label) ? state.labels : prediction.labels || undefined);
    block.style.opacity = String(clamp(Number(w.confidence) || 0, 0.15, 1));
    lane.append(block);
  });
  if (!windows.length) lane.append(el("span", { class: "lane-empty muted small" }, "Pick a trained model and run it over this video."));
}

runButton.addEventListener("click", runPredictions);
stopButton.addEventListener("click", async () => {
  if (!prediction.session) return;
  try {
    await api("POST", `/api/v1/live-sessions/${prediction.session.id}/stop/`);
    predictionStatus.textContent = "stopping…";
  } catch (error) {
    report(error);
  }
});
window.addEventListener("pagehide", () => {
  if (prediction.ws && prediction.session) {
    // the session would run to the end of the video for nobody
    fetch(`/api/v1/live-sessions/${prediction.session.id}/stop/`, {
      method: "POST", keepalive: true, credentials: "same-origin",
      headers: { "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content },
    }).catch(() => {});
  }
});
