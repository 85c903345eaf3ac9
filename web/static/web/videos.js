/* /videos/: upload a video (with progress and field errors) and list the user's videos. */
"use strict";
(() => {
  const { api, all, upload, toast, showErrors, el, followJobs } = taskml;
  const form = document.getElementById("upload-form");
  const progress = document.getElementById("upload-progress");
  const statusText = document.getElementById("upload-status-text");
  const submit = form.querySelector('button[type="submit"]');
  const tbody = document.querySelector("#video-list tbody");

  // ------------------------------------------------------------------ formatting

  function bytes(n) {
    if (n === null || n === undefined) return "–";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const m = Math.floor(seconds / 60);
    const s = seconds - m * 60;
    return m ? `${m}:${s.toFixed(1).padStart(4, "0")}` : `${s.toFixed(1)} s`;
  }

  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");

  // ------------------------------------------------------------------ upload

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.querySelectorAll("[data-error-for]").forEach((node) => { node.textContent = ""; });
    const file = form.elements.video.files[0];
    if (!file) {
      form.querySelector('[data-error-for="video"]').textContent = "Choose a video file.";
      form.elements.video.focus();
      return;
    }
    const data = new FormData();
    data.append("video", file);
    const videoId = form.elements.video_id.value.trim();
    if (videoId) data.append("video_id", videoId);
    const labels = form.elements.labels_csv.files[0];
    if (labels) data.append("labels_csv", labels);

    submit.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    statusText.textContent = "Uploading… 0%";
    try {
      const video = await upload("/api/v1/videos/", data, (fraction) => {
        progress.value = fraction;
        // the server probes and stores the file once the last byte arrived
        statusText.textContent = fraction >= 1 ? "Checking the video…" : `Uploading… ${Math.floor(fraction * 100)}%`;
      });
      progress.value = 1;
      statusText.textContent = `Uploaded ${video.video_id}; opening it…`;
      location.assign(`/videos/${video.id}/`);
    } catch (error) {
      progress.hidden = true;
      statusText.textContent = "";
      if (error.status === 413) {
        form.querySelector('[data-error-for="video"]').textContent = error.message;
      } else {
        showErrors(form, error);
      }
      submit.disabled = false;
    }
  });

  // ------------------------------------------------------------------ list

  function featureCell(files) {
    if (!files.length) return el("td", { class: "muted", "data-th": "Feature files" }, "none yet");
    return el(
      "td",
      { "data-th": "Feature files" },
      el(
        "ul",
        { class: "badges" },
        files.map((f) =>
          el(
            "li",
            {},
            el("span", { class: `badge ${f.status}`, title: `${f.filename}: ${f.status}` }, `${f.detector} · ${f.status}`),
          ),
        ),
      ),
    );
  }

  function render(videos, featureFiles) {
    const byVideo = new Map();
    for (const f of featureFiles) {
      if (!byVideo.has(f.video)) byVideo.set(f.video, []);
      byVideo.get(f.video).push(f);
    }
    tbody.replaceChildren();
    if (!videos.length) {
      tbody.append(el("tr", { class: "placeholder" }, el("td", { colspan: 7, class: "muted" }, "No videos yet: upload one above.")));
      return;
    }
    for (const v of videos) {
      const name = v.original_name && v.original_name !== v.video_id ? v.original_name : "";
      tbody.append(
        el(
          "tr",
          { "data-video": v.id },
          el(
            "td",
            { "data-th": "Video" },
            el("a", { class: "video-link", href: `/videos/${v.id}/` }, v.video_id),
            name ? el("div", { class: "muted small" }, name) : "",
          ),
          el("td", { "data-th": "Duration" }, duration(v.duration)),
          el("td", { "data-th": "Frames" }, String(v.frame_count), el("div", { class: "muted small" }, `${taskml.fmt(v.fps, 2)} fps · ${v.width}×${v.height}`)),
          el("td", { "data-th": "Size" }, bytes(v.size_bytes)),
          el("td", { "data-th": "Label spans" }, String(v.label_spans)),
          el("td", { "data-th": "Created" }, el("time", { datetime: v.created_at }, when(v.created_at))),
          featureCell(byVideo.get(v.id) || []),
        ),
      );
    }
  }

  let loading = null;
  async function load() {
    if (loading) return loading;
    loading = (async () => {
      try {
        const [videos, featureFiles] = await Promise.all([
          all("/api/v1/videos/?ordering=-created_at"),
          all("/api/v1/feature-files/?ordering=created_at"),
        ]);
        render(videos, featureFiles);
      } catch (error) {
        tbody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "error" }, `Could not load your videos: ${error.message}`)));
        toast(error.message, true);
      } finally {
        loading = null;
      }
    })();
    return loading;
  }

  // feature-file badges follow extraction jobs as they run and end (at most one reload a second)
  let reloadTimer = null;
  followJobs((job) => {
    if (job.kind !== "extraction" || reloadTimer) return;
    reloadTimer = setTimeout(() => { reloadTimer = null; load(); }, 1000);
  });

  load();
})();
