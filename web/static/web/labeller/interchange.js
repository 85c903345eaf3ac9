/* Label files in and out: import a file (csv, Label Studio, CVAT, BORIS, ActivityNet, MS-TCN)
   into this video's spans, and the export link in the chosen format. */
import { $, api, showErrors, state, toast, videoPk } from "./context.js";
import { loadSpans } from "./timeline.js";

const importForm = $("import-form");
const importReport = $("import-report");
const exportFormat = $("export-format");
const exportLink = $("export-link");
const exportHref = () => { exportLink.href = `/api/v1/videos/${videoPk}/labels/export/?format=${exportFormat.value}`; };
exportFormat.addEventListener("change", exportHref);
exportHref();

importForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  importForm.querySelectorAll("[data-error-for]").forEach((n) => { n.textContent = ""; });
  const file = $("import-file").files[0];
  if (!file) { importForm.querySelector('[data-error-for="file"]').textContent = "Choose a label file."; return; }
  const body = new FormData();
  body.append("file", file);
  body.append("format", $("import-format").value);
  body.append("mode", $("import-mode").value);
  body.append("force", $("import-force").checked ? "true" : "false");
  body.append("source", $("import-source").value);
  if ($("import-key").value.trim()) body.append("key", $("import-key").value.trim());
  if ($("import-fps").value) body.append("fps", $("import-fps").value);
  if ($("import-background").value.trim()) body.append("background", $("import-background").value.trim());
  if ($("import-mapping").files[0]) body.append("mapping", $("import-mapping").files[0]);
  $("import-submit").disabled = true;
  try {
    const r = await api("POST", `/api/v1/videos/${videoPk}/labels/import/`, body);
    const labelled = Object.entries(r.frames_labelled).map(([k, v]) => `${k} ${v}`).join(", ");
    const dropped = Object.entries(r.frames_dropped).map(([k, v]) => `${k.replace(/_/g, " ")} ${v}`).join(", ") || "none";
    importReport.textContent = [
      `${r.spans_created} span(s) imported (${r.mode}; ${r.spans_replaced} existing span(s) replaced).`,
      `Frames labelled: ${labelled}.`,
      `Frames dropped: ${dropped}.`,
      ...r.forced.map((line) => `Forced: ${line}`),
      ...r.notes.map((line) => `Note: ${line}`),
    ].join("\n");
    importReport.hidden = false;
    toast(`${r.spans_created} span(s) imported`);
    state.spans.clear();
    await loadSpans();
  } catch (error) {
    importReport.hidden = true;
    showErrors(importForm, error);
  } finally {
    $("import-submit").disabled = false;
  }
});
