/* Feature extraction from this page: start it, follow its job live (ws/jobs/), list the video's
   feature files with their status. */
import { $, all, api, clamp, el, followJobs, isTerminal, showErrors, toast, videoPk } from "./context.js";

const extractForm = $("extract-form");
const extractProgress = $("extract-progress");
const extractStage = $("extract-stage");
const extractSubmit = $("extract-submit");
const featureList = $("feature-files");
let trackedJob = null;

function showJob(job) {
  extractProgress.hidden = false;
  extractProgress.value = job.status === "succeeded" ? 1 : clamp(Number(job.progress) || 0, 0, 1);
  extractStage.classList.toggle("error", job.status === "failed");
  const percent = `${Math.floor((Number(job.progress) || 0) * 100)}%`;
  if (job.status === "pending") extractStage.textContent = "waiting for a worker…";
  else if (job.status === "running") extractStage.textContent = `${job.stage || "running"} · ${percent}`;
  else if (job.status === "succeeded") extractStage.textContent = "done";
  else if (job.status === "failed") extractStage.textContent = `failed: ${job.error || "no reason given"}`;
  else extractStage.textContent = job.status;
}

function trackJob(job) {
  trackedJob = { ...job };
  extractSubmit.disabled = true;
  showJob(trackedJob);
}

function trackedJobUpdate(job) {
  if (!trackedJob || job.id !== trackedJob.id) return;
  const wasTerminal = isTerminal(trackedJob.status);
  Object.assign(trackedJob, job);
  showJob(trackedJob);
  if (isTerminal(job.status) && !wasTerminal) {
    extractSubmit.disabled = false;
    if (job.status === "succeeded") toast("Features extracted");
    else if (job.status === "failed") toast(`Extraction failed: ${job.error || "no reason given"}`, true);
    loadFeatureFiles();
  }
}

extractForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  extractForm.querySelectorAll("[data-error-for]").forEach((n) => { n.textContent = ""; });
  const rate = Number(extractForm.elements.sample_rate.value);
  if (!Number.isInteger(rate) || rate < 1) {
    extractForm.querySelector('[data-error-for="sample_rate"]').textContent = "A whole number, 1 or more.";
    return;
  }
  extractSubmit.disabled = true;
  try {
    const answer = await api("POST", `/api/v1/videos/${videoPk}/extract/`, {
      detector_type: extractForm.elements.detector_type.value, sample_rate: rate,
    });
    trackJob(answer.job);
    loadFeatureFiles();
  } catch (error) {
    extractSubmit.disabled = false;
    showErrors(extractForm, error);
  }
});

let featureFiles = [];
export async function loadFeatureFiles() {
  try {
    featureFiles = await all(`/api/v1/feature-files/?video=${videoPk}&ordering=-created_at`);
  } catch (error) {
    featureList.replaceChildren(el("li", { class: "error" }, `Could not load the feature files: ${error.message}`));
    return;
  }
  renderFeatureFiles();
  if (!trackedJob) {
    const active = featureFiles.find((f) => f.job && !isTerminal(f.job.status));
    if (active) trackJob(active.job);
  }
}

function renderFeatureFiles() {
  featureList.replaceChildren();
  if (!featureFiles.length) {
    featureList.append(el("li", { class: "muted" }, "None yet: extract features above."));
    return;
  }
  for (const f of featureFiles) {
    const job = f.job || {};
    const status = f.status || job.status;
    const details = [`${f.detector}`, `every ${f.sample_rate} frame${f.sample_rate > 1 ? "s" : ""}`];
    if (f.num_frames) details.push(`${f.num_frames} frames`, `${f.num_labeled ?? 0} labelled`);
    // Which object detector ran: a real one, or an untrained YOLO (its objects are noise).
    const od = f.object_detector;
    const objects = od ? `objects: ${od.backend} ${od.model}${od.untrained ? " (untrained: no real objects)" : ""}`
      : f.detector !== "mediapipe" && f.yolo_model ? `objects: ${f.yolo_model}` : "";
    featureList.append(
      el(
        "li",
        { "data-feature-file": f.id, "data-job": job.id ?? "" },
        el("code", {}, f.filename),
        " ",
        el("span", { class: `badge ${status}` }, status),
        el("div", { class: "muted small" }, details.join(" · ")),
        objects ? el("div", { class: `small ${od && od.untrained ? "warning" : "muted"}`, "data-object-detector": od ? od.backend : "" }, objects) : "",
        status === "running" || status === "pending"
          ? el("progress", { max: 1, value: job.progress || 0, "aria-label": `Progress of ${f.filename}` })
          : "",
        status === "failed" && job.error ? el("div", { class: "error small" }, job.error) : "",
      ),
    );
  }
}

let reloadTimer = null;
// The socket carries every change; the poll (of the tracked job, every 5 s while it runs) covers a
// socket that was down when the job ended.
followJobs((job) => {
  trackedJobUpdate(job);
  const item = featureList.querySelector(`[data-job="${job.id}"]`);
  if (item) {
    const badge = item.querySelector(".badge");
    if (badge && !isTerminal(job.status)) { badge.className = `badge ${job.status}`; badge.textContent = job.status; }
    const bar = item.querySelector("progress");
    if (bar) bar.value = job.progress || 0;
    if (isTerminal(job.status) && !reloadTimer) {
      reloadTimer = setTimeout(() => { reloadTimer = null; loadFeatureFiles(); }, 300);
    }
  }
}, {
  poll: async () => {
    try { trackedJobUpdate(await api("GET", `/api/v1/jobs/${trackedJob.id}/`)); } catch (e) { /* the next poll retries */ }
  },
  busy: () => Boolean(trackedJob && !isTerminal(trackedJob.status)),
});
