/* /datasets/ (builder, preview, list) and /datasets/<id>/ (one dataset). */
"use strict";
(() => {
  const { api, all, el, toast, showErrors, fmt, debounce, isTerminal, statusCell, withJob, followJobs, liveList } = taskml;
  const SPLITS = ["train", "val", "test"];

  const bytes = (n) => {
    if (!n) return "–";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
  };
  const when = (iso) => (iso ? new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "–");
  const clearErrors = (form) => form.querySelectorAll("[data-error-for]").forEach((e) => { e.textContent = ""; });

  /** Windows per class (rows) × split (columns), with totals; cells carry data-split/data-label/data-value. */
  function countsTable(table, labels, counts, before = null) {
    const head = table.tHead, body = table.tBodies[0], foot = table.tFoot;
    head.replaceChildren(el("tr", {}, el("th", { scope: "col" }, "Label"),
      SPLITS.map((s) => el("th", { scope: "col", class: "num" }, s)), el("th", { scope: "col", class: "num" }, "total")));
    body.replaceChildren();
    const totals = { train: 0, val: 0, test: 0 };
    for (const label of labels) {
      let rowTotal = 0;
      const cells = SPLITS.map((split) => {
        const n = (counts[split] || {})[label] || 0;
        totals[split] += n; rowTotal += n;
        const was = before && split === "train" ? (before.train || {})[label] || 0 : null;
        return el("td", { class: "num", "data-split": split, "data-label": label, "data-value": n },
          String(n), was !== null && was !== n ? el("span", { class: "muted small", title: "before balancing" }, ` (${was})`) : "");
      });
      body.append(el("tr", { "data-label": label }, el("th", { scope: "row" },
        el("span", { class: "swatch", style: `background:${taskml.colour(label, labels)}` }), label), cells,
        el("td", { class: "num", "data-label": label, "data-split": "total", "data-value": rowTotal }, String(rowTotal))));
    }
    const grand = SPLITS.reduce((a, s) => a + totals[s], 0);
    foot.replaceChildren(el("tr", {}, el("th", { scope: "row" }, "total"),
      SPLITS.map((s) => el("td", { class: "num", "data-split": s, "data-label": "total", "data-value": totals[s] }, String(totals[s]))),
      el("td", { class: "num", "data-split": "total", "data-label": "total", "data-value": grand }, String(grand))));
  }

  // =================================================================== list + builder
  function initList(form) {
    const rows = document.getElementById("feature-file-rows");
    const list = document.querySelector("#dataset-list tbody");
    const previewBox = document.getElementById("preview-box");
    const previewState = document.getElementById("preview-state");
    let datasets = [];

    // ---- feature files
    async function loadFeatureFiles() {
      try {
        const [files, videos] = await Promise.all([all("/api/v1/feature-files/?status=succeeded"), all("/api/v1/videos/")]);
        const videoId = new Map(videos.map((v) => [v.id, v.video_id]));
        const checked = new Set([...form.querySelectorAll("input[name=feature_files]:checked")].map((i) => i.value));
        rows.replaceChildren();
        if (!files.length) {
          rows.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No extracted feature files yet: ",
            el("a", { href: "/videos/" }, "upload and extract a video"), " first.")));
          return;
        }
        for (const f of files) {
          const vid = videoId.get(f.video) || f.video_file || String(f.video);
          const labels = Object.entries(f.label_distribution || {});
          const usable = labels.length > 0;
          const id = `ff-${f.id}`;
          const split = el("select", { class: "split-choice", "data-video-id": vid, "aria-label": `split for ${vid}` },
            ["auto", "train", "val", "test"].map((s) => el("option", { value: s }, s)));
          rows.append(el("tr", { "data-feature-file": f.filename },
            el("td", {}, el("input", { type: "checkbox", name: "feature_files", value: f.filename, id,
              checked: checked.has(f.filename), disabled: !usable }),
              " ", el("label", { for: id, class: "inline" }, f.filename)),
            el("td", {}, el("a", { href: `/videos/${f.video}/` }, vid), el("div", { class: "muted small" }, f.detector)),
            el("td", { class: "num", "data-title": "Labelled frames" }, `${f.num_labeled ?? "–"} / ${f.num_frames ?? "–"}`),
            el("td", {}, usable
              ? el("div", { class: "chips" }, labels.map(([l, n]) => el("span", { class: "chip", "data-label": l, "data-value": n }, `${l} ${n}`)))
              : el("span", { class: "muted" }, "no labels")),
            el("td", {}, split)));
        }
        syncRatios();
      } catch (err) {
        rows.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "error" }, `Could not load feature files: ${err.message}`)));
      }
    }

    // A video's split applies to all its files; choosing any split replaces the ratios.
    rows.addEventListener("change", (e) => {
      const target = e.target;
      if (target.matches("select.split-choice")) {
        rows.querySelectorAll(`select.split-choice`).forEach((s) => {
          if (s !== target && s.dataset.videoId === target.dataset.videoId) s.value = target.value;
        });
      }
      syncRatios();
      markStale();
    });
    form.addEventListener("input", markStale);

    function chosenSplits() {
      const chosen = [...rows.querySelectorAll("tr")].filter((tr) => tr.querySelector("input[name=feature_files]:checked"));
      const selects = chosen.map((tr) => tr.querySelector("select.split-choice")).filter(Boolean);
      if (!selects.some((s) => s.value !== "auto")) return null;
      const splits = {};
      for (const s of selects) splits[s.dataset.videoId] = s.value === "auto" ? "train" : s.value;
      return splits;
    }

    function syncRatios() {
      const explicit = chosenSplits() !== null;
      form.querySelectorAll("#ratio-fields input").forEach((i) => { i.disabled = explicit; });
      document.getElementById("ratio-note").textContent = explicit ? "(not used: you chose the videos' splits)" : "";
    }

    // ---- the request body (the same for preview and build)
    function numberField(name, body, errors) {
      const input = form.elements[name];
      if (input.validity.badInput) { errors[name] = "enter a number"; return; }
      body[name] = input.value.trim() === "" ? null : Number(input.value);
    }

    function requestBody() {
      const body = { feature_files: [...form.querySelectorAll("input[name=feature_files]:checked")].map((i) => i.value) };
      const errors = {};
      for (const name of ["window_sec", "step_sec", "seed", "min_purity"]) numberField(name, body, errors);
      body.balance_method = form.elements.balance_method.value;
      const splits = chosenSplits();
      if (splits) body.splits = splits;
      else for (const name of ["train_ratio", "val_ratio", "test_ratio"]) numberField(name, body, errors);
      const groups = [...form.querySelectorAll("input[name=groups]:checked")].map((i) => i.value);
      if (groups.length !== 3) body.groups = groups;
      if (Object.keys(errors).length) throw new taskml.ApiError(400, errors);
      return body;
    }

    function busy(on) {
      form.querySelectorAll("button").forEach((b) => { b.disabled = on; });
      form.setAttribute("aria-busy", on ? "true" : "false");
    }

    // ---- preview
    function markStale() {
      if (!previewBox.hidden) previewState.textContent = "(the form changed since: preview again)";
    }

    // ---- a refusal that names windows that would work: one click applies them and previews again
    const fixBox = document.getElementById("suggested-fix");
    let suggestion = null;
    function showRefusal(err) {
      showErrors(form, err);
      suggestion = err instanceof taskml.ApiError && err.body && err.body.suggestion ? err.body.suggestion : null;
      fixBox.hidden = !suggestion;
      if (suggestion) {
        document.getElementById("suggested-fix-text").textContent =
          `Would work: ${suggestion.window_sec} s windows with a ${suggestion.step_sec} s step.`;
      }
    }
    document.getElementById("apply-fix").addEventListener("click", () => {
      if (!suggestion) return;
      form.elements.window_sec.value = suggestion.window_sec;
      form.elements.step_sec.value = suggestion.step_sec;
      fixBox.hidden = true;
      document.getElementById("preview").click();
    });

    document.getElementById("preview").addEventListener("click", async () => {
      let body;
      try { body = requestBody(); } catch (err) { showErrors(form, err); return; }
      busy(true);
      try {
        const p = await api("POST", "/api/v1/datasets/preview/", body);
        clearErrors(form);
        fixBox.hidden = true;
        renderPreview(p);
      } catch (err) {
        showRefusal(err);
      } finally { busy(false); }
    });

    function renderPreview(p) {
      previewBox.hidden = false;
      previewState.textContent = "";
      countsTable(document.getElementById("preview-table"), p.labels, p.counts,
        p.balance_method !== "none" ? p.counts_before_balance : null);
      const dropped = Object.entries(p.dropped || {}).filter(([, n]) => n).map(([k, n]) => `${n} ${k.replace("_", " ")}`);
      const members = SPLITS.map((s) => `${s}: ${(p.splits[s] || []).join(", ") || "–"}`).join(" · ");
      document.getElementById("preview-summary").replaceChildren(
        el("span", { "data-value": p.windows, id: "preview-windows" }, `${p.windows} windows`),
        ` · split by ${p.split_strategy.replace("_", " ")} (${members})`,
        p.balance_method !== "none" ? ` · train ${p.balance_method}d (before balancing in brackets)` : "",
        dropped.length ? ` · dropped: ${dropped.join(", ")}` : " · nothing dropped",
        p.groups_note ? ` · ${p.groups_note}` : "",
        p.split_method && p.split_method.warning
          ? el("div", { class: "warning", id: "preview-warning" }, p.split_method.warning) : "");
    }

    // ---- build
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      let body;
      try { body = requestBody(); } catch (err) { showErrors(form, err); return; }
      busy(true);
      try {
        // A build that could not succeed is refused here, with windows that work (as the preview).
        const d = await api("POST", "/api/v1/datasets/", body);
        clearErrors(form);
        fixBox.hidden = true;
        toast(`Building ${d.name}…`);
        datasets = [d, ...datasets.filter((x) => x.id !== d.id)];
        renderList();
      } catch (err) {
        showRefusal(err);
      } finally { busy(false); }
    });

    // ---- list
    async function loadList() {
      try {
        datasets = await all("/api/v1/datasets/?ordering=-created_at");
        renderList();
      } catch (err) {
        list.replaceChildren(el("tr", {}, el("td", { colspan: 10, class: "error" }, `Could not load datasets: ${err.message}`)));
      }
    }

    function renderList() {
      list.replaceChildren();
      if (!datasets.length) {
        list.append(el("tr", {}, el("td", { colspan: 10, class: "muted" }, "No datasets yet.")));
        return;
      }
      for (const d of datasets) list.append(datasetRow(d));
    }

    function datasetRow(d) {
      const ok = d.status === "succeeded";
      return el("tr", { "data-dataset-id": d.id, "data-status": d.status },
        el("td", {}, el("a", { class: "dataset-link", href: `/datasets/${d.id}/` }, d.name)),
        el("td", { class: "status-cell" }, statusCell(d.status, d.job)),
        el("td", {}, el("div", { class: "chips" }, (d.feature_files || []).map((f) => el("span", { class: "chip" }, f)))),
        el("td", {}, (d.labels || []).join(", ") || "–"),
        el("td", { class: "num", "data-split": "train" }, ok ? String(d.train_size) : "–"),
        el("td", { class: "num", "data-split": "val" }, ok ? String(d.val_size) : "–"),
        el("td", { class: "num", "data-split": "test" }, ok ? String(d.test_size) : "–"),
        el("td", { class: "nowrap" }, `${d.window_sec} s / ${d.step_sec} s`, el("div", { class: "muted small" }, d.balance_method)),
        el("td", { class: "num" }, bytes(d.size_bytes)),
        el("td", {}, when(d.created_at)));
    }

    liveList({
      kind: "dataset",
      items: () => datasets,
      render: datasetRow,
      rowOf: (d) => list.querySelector(`tr[data-dataset-id="${d.id}"]`),
      reload: loadList,
      others: (job) => { if (job.kind === "extraction" && isTerminal(job.status)) loadFeatureFiles(); },
    });

    loadFeatureFiles();
    loadList();
  }

  // =================================================================== one dataset
  function initDetail(root) {
    const id = Number(root.dataset.datasetId);
    const jobBox = document.getElementById("dataset-job");
    const badge = document.getElementById("dataset-status");
    const rebuild = document.getElementById("rebuild");
    const trainLink = document.getElementById("train-link");
    let current = null;

    async function load() {
      try {
        current = await api("GET", `/api/v1/datasets/${id}/`);
        render(current);
      } catch (err) {
        jobBox.replaceChildren(el("p", { class: "error" }, `Could not load the dataset: ${err.message}`));
      }
    }

    function render(d) {
      badge.className = `badge ${d.status}`;
      badge.textContent = d.status;
      const job = d.job;
      const running = job && !isTerminal(job.status);
      rebuild.disabled = Boolean(running);
      trainLink.classList.toggle("disabled", d.status !== "succeeded");
      trainLink.setAttribute("aria-disabled", d.status !== "succeeded" ? "true" : "false");
      document.getElementById("split-strategy").textContent = d.split_strategy || "–";
      renderSplit(d);
      document.getElementById("num-features").textContent = d.num_features;
      document.getElementById("dataset-size").textContent = bytes(d.size_bytes);
      jobBox.replaceChildren();
      if (job) {
        const pct = Math.round((job.progress || 0) * 100);
        jobBox.append(el("dl", { class: "pairs" },
          el("dt", {}, "Status"), el("dd", {}, el("span", { class: `badge ${job.status}`, id: "job-status" }, job.status)),
          el("dt", {}, "Stage"), el("dd", {}, job.stage || "–"),
          el("dt", {}, "Progress"), el("dd", {}, el("progress", { max: 100, value: pct, "aria-label": `progress ${pct}%` }), ` ${pct}%`),
          el("dt", {}, "Time"), el("dd", {}, job.seconds != null ? `${fmt(job.seconds, 1)} s` : "–"),
          el("dt", {}, "Started"), el("dd", {}, when(job.started_at)),
          el("dt", {}, "Job"), el("dd", {}, el("a", { href: `/api/v1/jobs/${job.id}/` }, `#${job.id}`), job.attempts > 1 ? ` (attempt ${job.attempts})` : "")));
        if (job.error) jobBox.append(el("p", { class: "error", id: "job-error", role: "alert" }, job.error));
      } else {
        jobBox.append(el("p", { class: "muted" }, "No job."));
      }
      const table = document.getElementById("class-counts");
      if (d.status === "succeeded" && d.labels && d.labels.length) countsTable(table, d.labels, d.class_counts || {});
      else {
        table.tHead.replaceChildren();
        table.tFoot.replaceChildren();
        table.tBodies[0].replaceChildren(el("tr", {}, el("td", { class: "muted" },
          d.status === "failed" ? "The build failed: no windows." : "Counts appear when the build has finished.")));
      }
    }

    function renderSplit(d) {
      const method = d.split_method;
      const note = document.getElementById("split-note");
      const warning = document.getElementById("split-warning");
      const missing = document.getElementById("classes-missing");
      const blocks = document.getElementById("split-blocks");
      missing.replaceChildren();
      blocks.tBodies[0].replaceChildren();
      if (!method) {
        note.textContent = d.status === "succeeded" ? "Built before splits were described." : "Appears when the build has finished.";
        warning.hidden = true;
        blocks.hidden = true;
        return;
      }
      note.textContent = `${method.note} (seed ${method.seed}).`;
      warning.hidden = !method.warning;
      warning.textContent = method.warning || "";
      const missingBySplit = d.classes_missing || {};
      for (const [split, labels] of SPLITS.filter((s) => s in missingBySplit).map((s) => [s, missingBySplit[s]])) {
        missing.append(el("dt", {}, `${split} lacks`),
          el("dd", { "data-split": split }, labels.length ? labels.join(", ") : "nothing: every class is there"));
      }
      const rows = Object.entries(method.blocks || {}).flatMap(([video, list]) => list.map((b) =>
        el("tr", { "data-split": b.split }, el("td", {}, video), el("td", { class: "num" }, fmt(b.start, 1)),
          el("td", { class: "num" }, fmt(b.end, 1)), el("td", {}, b.split))));
      blocks.hidden = !rows.length;
      blocks.tBodies[0].replaceChildren(...rows);
    }

    rebuild.addEventListener("click", async () => {
      rebuild.disabled = true;
      try {
        current = await api("POST", `/api/v1/datasets/${id}/rebuild/`);
        toast(`Rebuilding ${current.name}…`);
        render(current);
      } catch (err) {
        toast(err.message, true);
        rebuild.disabled = false;
      }
    });

    trainLink.addEventListener("click", (e) => {
      if (trainLink.getAttribute("aria-disabled") === "true") {
        e.preventDefault();
        toast("The dataset is not built yet.", true);
      }
    });

    const reload = debounce(load, 250);
    followJobs((job) => {
      if (job.kind !== "dataset" || job.target_id !== id) return;
      if (isTerminal(job.status) || !current) { reload(); return; }
      render(withJob(current, job));
    }, { poll: reload, busy: () => Boolean(current && current.job && !isTerminal(current.job.status)) });
    load();
  }

  const form = document.getElementById("dataset-form");
  if (form) initList(form);
  const detail = document.getElementById("dataset-detail");
  if (detail) initDetail(detail);
})();
