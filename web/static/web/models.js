/* /models/ (train, list, compare) and /models/<id>/ (one model's evaluation charts). */
"use strict";
(() => {
  const { api, all, el, toast, showErrors, fmt, debounce, isTerminal, statusCell, followJobs, liveList } = taskml;
  const TREE_FIELDS = ["n_estimators", "max_depth", "learning_rate"];
  const LSTM_FIELDS = ["epochs", "lr", "hidden_dim", "num_layers"];
  const SEQUENCE_MODELS = new Set(["lstm", "tcn", "transformer"]); // whole windows, no aggregation

  const when = (iso) => (iso ? new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "–");
  const clearErrors = (form) => form.querySelectorAll("[data-error-for]").forEach((e) => { e.textContent = ""; });
  /** A number cell: the shown text is rounded, data-value holds the raw value. */
  const numCell = (value, digits = 3, attrs = {}) =>
    el("td", { class: "num", "data-value": value ?? "", ...attrs }, value === null || value === undefined ? "–" : fmt(value, digits));

  // =================================================================== list, train, compare
  function initList(form) {
    const list = document.querySelector("#model-list tbody");
    const progressNote = document.getElementById("train-progress");
    const wanted = new URLSearchParams(location.search).get("dataset");
    let models = [];
    let datasets = [];
    let compared = null; // Set of model ids, once the user (or the default) chose
    let lastTrained = null;

    // ---- datasets for the form
    let userChoseDataset = false;
    form.elements.dataset.addEventListener("change", () => { userChoseDataset = true; });

    async function loadDatasets() {
      const select = form.elements.dataset;
      // ?dataset=<id> holds until the user picks another (it may still be building at first).
      const keep = userChoseDataset ? select.value : wanted || select.value;
      try {
        datasets = await all("/api/v1/datasets/?status=succeeded&ordering=-created_at");
      } catch (err) {
        select.replaceChildren(el("option", { value: "" }, "could not load datasets"));
        return;
      }
      select.replaceChildren();
      if (!datasets.length) select.append(el("option", { value: "" }, "no built datasets yet: build one first"));
      for (const d of datasets) {
        select.append(el("option", { value: d.id, selected: String(d.id) === String(keep) },
          `${d.name} · ${(d.labels || []).join(", ")} · ${d.train_size}/${d.val_size}/${d.test_size} windows`));
      }
      const note = form.querySelector('[data-error-for="dataset"]');
      if (wanted && !userChoseDataset && !datasets.some((d) => String(d.id) === wanted)) {
        select.prepend(el("option", { value: "", selected: true }, `dataset_${wanted} (not built yet)`));
        select.value = "";
        note.textContent = `dataset_${wanted} is not built (yet): it is chosen here once it is`;
        note.dataset.waiting = "1";
      } else if (note.dataset.waiting) {
        note.textContent = "";
        delete note.dataset.waiting;
      }
    }

    function syncModelType() {
      const type = form.elements.model_type.value;
      const sequence = SEQUENCE_MODELS.has(type);
      document.getElementById("lstm-params").hidden = !sequence;
      document.getElementById("tree-params").hidden = sequence || type === "ridge";
      form.elements.aggregation.disabled = sequence;
      form.elements.learning_rate.disabled = type !== "lgbm";
    }
    form.elements.model_type.addEventListener("change", syncModelType);
    syncModelType();

    function requestBody() {
      const errors = {};
      const type = form.elements.model_type.value;
      const body = { dataset: form.elements.dataset.value === "" ? null : Number(form.elements.dataset.value), model_type: type };
      if (!SEQUENCE_MODELS.has(type)) body.aggregation = form.elements.aggregation.value;
      const own = SEQUENCE_MODELS.has(type) ? LSTM_FIELDS : type === "ridge" ? [] : TREE_FIELDS.filter((f) => f !== "learning_rate" || type === "lgbm");
      const fields = [...own, "seed", "cv"];
      for (const name of fields) {
        const input = form.elements[name];
        if (input.validity.badInput) errors[name] = "enter a number";
        else if (input.value.trim() !== "") body[name] = Number(input.value);
      }
      if (body.dataset === null) errors.dataset = "choose a built dataset";
      if (Object.keys(errors).length) throw new taskml.ApiError(400, errors);
      return body;
    }

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      let body;
      try { body = requestBody(); } catch (err) { showErrors(form, err); return; }
      const button = document.getElementById("train");
      button.disabled = true;
      try {
        const m = await api("POST", "/api/v1/models/", body);
        clearErrors(form);
        lastTrained = m.id;
        progressNote.textContent = `Training ${m.filename || `model ${m.id}`} (${m.model_type})… queued`;
        toast(`Training started (model ${m.id})`);
        models = [m, ...models.filter((x) => x.id !== m.id)];
        renderList();
      } catch (err) {
        showErrors(form, err);
      } finally { button.disabled = false; }
    });

    // ---- list
    async function loadModels() {
      try {
        models = await all("/api/v1/models/?compact=true&ordering=-created_at");
        renderList();
        renderCompare();
      } catch (err) {
        list.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "error" }, `Could not load models: ${err.message}`)));
      }
    }

    function modelRow(m) {
      return el("tr", { "data-model-id": m.id, "data-status": m.status },
        el("td", {}, m.filename || el("span", { class: "muted" }, `model ${m.id}`)),
        el("td", {}, m.version_label || `v${m.version}`),
        el("td", {}, m.model_type, m.aggregation && m.aggregation !== "sequence" ? el("span", { class: "muted small" }, ` · ${m.aggregation}`) : ""),
        el("td", {}, el("a", { href: `/datasets/${m.dataset}/` }, m.dataset_dir || `dataset_${m.dataset}`)),
        el("td", { class: "status-cell" }, statusCell(m.status, m.job)),
        numCell(m.accuracy, 3, { "data-metric": "accuracy" }),
        numCell(m.f1_macro, 3, { "data-metric": "f1_macro" }),
        el("td", {}, when(m.created_at)),
        el("td", {}, el("a", { class: "model-link", href: `/models/${m.id}/`, "aria-label": `open ${m.filename || `model ${m.id}`}` }, "Open")));
    }

    function renderList() {
      list.replaceChildren();
      if (!models.length) list.append(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No models yet.")));
      for (const m of models) list.append(modelRow(m));
    }

    // ---- compare
    const options = document.getElementById("compare-options");
    const compareTable = document.getElementById("compare");
    options.addEventListener("change", (e) => {
      if (!e.target.matches("input.compare-choice")) return;
      compared = new Set([...options.querySelectorAll("input.compare-choice:checked")].map((i) => Number(i.value)));
      renderCompareTable();
    });

    function trainedModels() { return models.filter((m) => m.status === "succeeded" && m.metrics && m.metrics.test); }

    function renderCompare() {
      const trained = trainedModels();
      if (compared === null) compared = new Set(trained.slice(0, 5).map((m) => m.id));
      options.replaceChildren();
      if (!trained.length) options.append(el("span", { class: "muted" }, "No trained models yet."));
      for (const m of trained) {
        const id = `cmp-${m.id}`;
        options.append(el("label", { class: "inline choice", for: id },
          el("input", { type: "checkbox", class: "compare-choice", id, value: m.id, checked: compared.has(m.id) }),
          ` ${m.filename} `, el("span", { class: "muted small" }, m.version_label)));
      }
      renderCompareTable();
    }

    function renderCompareTable() {
      const chosen = trainedModels().filter((m) => compared.has(m.id));
      const labels = [...new Set(chosen.flatMap((m) => m.metrics.labels || Object.keys(m.metrics.test.per_class || {})))].sort();
      const columns = [
        { key: "accuracy", title: "Accuracy", get: (m) => m.metrics.accuracy },
        { key: "f1_macro", title: "F1 macro", get: (m) => m.metrics.f1_macro },
        { key: "f1_weighted", title: "F1 weighted", get: (m) => m.metrics.f1_weighted },
        ...labels.map((l) => ({
          key: `f1:${l}`, label: l, title: `F1 ${l}`,
          get: (m) => ((m.metrics.test.per_class || {})[l] || {}).f1,
          // A class with no test windows scores 0 by convention: say so rather than rank it.
          absent: (m) => (((m.metrics.test.per_class || {})[l] || {}).support ?? 0) === 0,
        })),
        { key: "training_seconds", title: "Training (s)", get: (m) => m.metrics.training_seconds, lowerIsBetter: true, digits: 2 },
      ];
      const head = compareTable.tHead, body = compareTable.tBodies[0];
      head.replaceChildren(el("tr", {}, el("th", { scope: "col" }, "Model"), el("th", { scope: "col" }, "Type"),
        el("th", { scope: "col" }, "Dataset"), columns.map((c) => el("th", { scope: "col", class: "num", "data-metric": c.key }, c.title))));
      body.replaceChildren();
      if (!chosen.length) {
        body.append(el("tr", {}, el("td", { colspan: columns.length + 3, class: "muted" }, "Tick models above to compare them.")));
        return;
      }
      const best = {};
      for (const c of columns) {
        const values = chosen.filter((m) => !(c.absent && c.absent(m))).map(c.get).filter((v) => typeof v === "number");
        if (values.length > 1) best[c.key] = c.lowerIsBetter ? Math.min(...values) : Math.max(...values);
      }
      for (const m of chosen) {
        body.append(el("tr", { "data-model-id": m.id },
          el("th", { scope: "row" }, el("a", { href: `/models/${m.id}/` }, m.filename), el("div", { class: "muted small" }, m.version_label)),
          el("td", {}, m.model_type),
          el("td", {}, m.dataset_dir),
          columns.map((c) => {
            const v = c.get(m);
            const absent = Boolean(c.absent && c.absent(m));
            const isBest = typeof v === "number" && best[c.key] === v && !absent;
            const cell = numCell(v, c.digits ?? 3, { "data-metric": c.key, "data-model-id": m.id, ...(c.label ? { "data-label": c.label } : {}) });
            if (absent) { cell.classList.add("muted"); cell.title = `no ${c.label} windows in this model's test split`; cell.append(el("sup", {}, "n=0")); }
            if (isBest) { cell.classList.add("best"); cell.append(el("span", { class: "star", title: "best of the compared" }, " ★")); }
            return cell;
          })));
      }
    }

    // ---- live updates
    liveList({
      kind: "training",
      items: () => models,
      render: modelRow,
      rowOf: (m) => list.querySelector(`tr[data-model-id="${m.id}"]`),
      reload: loadModels,
      onJob: (job) => {
        if (job.target_id === lastTrained) {
          progressNote.textContent = isTerminal(job.status)
            ? `Model ${job.target_id}: ${job.status}${job.error ? ` (${job.error})` : ""}`
            : `Training model ${job.target_id}… ${job.stage || job.status} ${Math.round((job.progress || 0) * 100)}%`;
        }
        if (job.status === "succeeded" && compared) compared.add(job.target_id);
      },
      others: (job) => { if (job.kind === "dataset" && isTerminal(job.status)) loadDatasets(); },
    });

    loadDatasets();
    loadModels();
  }

  // =================================================================== one model
  function initDetail(root) {
    const id = Number(root.dataset.modelId);
    const badge = document.getElementById("model-status");
    const jobBox = document.getElementById("model-job");
    let status = badge.textContent.trim();

    async function load() {
      let m;
      try {
        m = await api("GET", `/api/v1/models/${id}/`);
      } catch (err) {
        document.getElementById("metrics").replaceChildren(el("p", { class: "error" }, `Could not load the model: ${err.message}`));
        return;
      }
      badge.className = `badge ${m.status}`;
      badge.textContent = m.status;
      status = m.status;
      const onnx = document.getElementById("model-onnx");
      if (onnx) onnx.hidden = m.status !== "succeeded";
      renderJob(m);
      if (m.status === "succeeded" && m.metrics && m.metrics.labels) render(m);
      else {
        document.getElementById("metrics").replaceChildren(el("p", { class: "muted" },
          m.status === "failed" ? "Training failed: no metrics." : "Metrics appear when training has finished."));
        document.getElementById("timelines").replaceChildren();
      }
    }

    function renderJob(m, job = m.job) {
      if (!job || (m.status === "succeeded" && job.status === "succeeded")) { jobBox.hidden = true; return; }
      jobBox.hidden = false;
      const pct = Math.round((job.progress || 0) * 100);
      jobBox.replaceChildren(el("h2", {}, "Training job"),
        el("p", {}, el("span", { class: `badge ${job.status}` }, job.status), ` ${job.stage || ""} `,
          el("progress", { max: 100, value: pct, "aria-label": `progress ${pct}%` }), ` ${pct}%`),
        job.error ? el("p", { class: "error", role: "alert" }, job.error) : "");
    }

    function render(m) {
      const x = m.metrics;
      const test = x.test || {};
      const stat = (key, title, value, digits = 3) => el("div", { class: "stat" },
        el("div", { class: "stat-title" }, title),
        el("div", { class: "stat-value", "data-metric": key, "data-value": value ?? "" }, typeof value === "number" ? fmt(value, digits) : (value ?? "–")));
      // Only the parameters this model type reads (the server says which); a ridge model shows no trees.
      const used = x.params_used || Object.fromEntries(Object.entries(m.params_used || {}).filter(([k]) => k !== "seed" && k !== "cv"));
      const params = Object.entries(used)
        .map(([k, v]) => el("span", { class: "chip", "data-param": k, "data-value": v ?? "" }, `${k} ${v ?? "none"}`));
      const warnings = x.warnings || [];
      const cv = x.cv;
      const cvText = (metric) => (cv && cv[metric] ? `${fmt(cv[metric].mean)} ± ${fmt(cv[metric].std)}` : "–");
      document.getElementById("metrics").replaceChildren(
        warnings.length ? el("div", { class: "warning", id: "metric-warnings", role: "note" },
          el("strong", {}, "These test figures do not mean much: "),
          el("ul", {}, ...warnings.map((w) => el("li", {}, w)))) : "",
        el("div", { class: "stats" },
          stat("accuracy", "Accuracy", x.accuracy),
          stat("f1_macro", "F1 macro", x.f1_macro),
          stat("f1_weighted", "F1 weighted", x.f1_weighted),
          stat("support", "Test windows", test.support, 0),
          stat("train_size", "Train windows", x.train_size, 0),
          x.val ? stat("val_accuracy", "Val accuracy", x.val.accuracy) : "",
          x.video_level ? stat("video_accuracy", "Video accuracy", x.video_level.accuracy) : "",
          x.segment ? stat("segment_f1_50", "Segment F1@50", x.segment["f1@50"]) : "",
          x.segment ? stat("segment_edit", "Edit score", x.segment.edit) : "",
          stat("training_seconds", "Training (s)", x.training_seconds, 2)),
        el("dl", { class: "pairs" },
          el("dt", {}, "Model"), el("dd", {}, `${x.model_type} · ${x.aggregation}`, x.epochs_run ? ` · ${x.epochs_run} epochs` : ""),
          el("dt", {}, "Parameters"), el("dd", { id: "model-params" }, el("div", { class: "chips" }, params, el("span", { class: "chip", "data-param": "seed" }, `seed ${x.seed}`))),
          el("dt", {}, "Labels"), el("dd", {}, (x.labels || []).join(", ")),
          el("dt", {}, "F1 macro"), el("dd", { class: "small", id: "f1-definition" }, x.f1_macro_definition || "over the classes in the test split",
            (x.classes_absent_from_test || []).length ? el("div", { id: "classes-absent" }, `Not in the test split (not scored): ${x.classes_absent_from_test.join(", ")}`) : ""),
          ...(cv ? [el("dt", {}, `Cross-validation (${cv.k} folds)`), el("dd", { id: "cv-result" },
            el("span", { "data-metric": "cv_accuracy", "data-value": cv.accuracy ? cv.accuracy.mean : "" }, `accuracy ${cvText("accuracy")}`), " · ",
            el("span", { "data-metric": "cv_f1_macro", "data-value": cv.f1_macro ? cv.f1_macro.mean : "" }, `F1 macro ${cvText("f1_macro")}`),
            el("div", { class: "muted small" }, `${cv.folds_scored} of ${cv.k} folds scored, grouped by ${cv.grouped_by.replace("_", " ")} (${cv.groups} groups). ${cv.note}.`))] : []),
          el("dt", {}, "Version"), el("dd", {}, m.version_label, " ", el("code", { class: "small" }, (m.sha256 || "").slice(0, 16)))));

      const labels = x.labels;
      charts.heatmap(document.getElementById("confusion"), { labels, matrix: x.confusion_matrix });

      const perClass = test.per_class || {};
      charts.bars(document.getElementById("f1-bars"), labels.map((l) => {
        const c = perClass[l] || {};
        return {
          label: l, value: c.f1 ?? 0, colour: taskml.colour(l, labels),
          title: c.f1 == null ? `${l}: not in the test split (not scored)`
            : `${l}: F1 ${fmt(c.f1)} · precision ${fmt(c.precision)} · recall ${fmt(c.recall)} · support ${c.support ?? 0}`,
          attrs: { "data-precision": c.precision ?? "", "data-recall": c.recall ?? "", "data-support": c.support ?? "" },
        };
      }), { max: 1, name: "F1 per class" });

      const importance = (x.feature_importance || []).slice(0, 20);
      const impSvg = document.getElementById("importance");
      document.getElementById("importance-note")?.remove();
      if (importance.length) {
        charts.bars(impSvg, importance.map((f) => ({ label: f.feature, value: f.importance, title: `${f.feature}: ${f.importance}` })),
          { digits: 4, name: "feature importance, top 20" });
      } else {
        impSvg.replaceChildren();
        impSvg.removeAttribute("viewBox");
        impSvg.setAttribute("height", "0");
        impSvg.parentElement.after(el("p", { class: "muted", id: "importance-note" }, `No feature importance for ${x.model_type} models.`));
      }
      renderTimelines(x);
    }

    function renderTimelines(x) {
      const box = document.getElementById("timelines");
      const timeline = x.test_timeline || {};
      const videos = Object.keys(timeline).sort();
      box.replaceChildren();
      if (!videos.length) {
        box.append(el("p", { class: "muted" }, "No timeline: this model was trained before timelines were recorded, or its dataset has no window index."));
        return;
      }
      const labels = x.labels;
      box.append(charts.legend(labels, [["miss", "prediction differs from the truth"]]),
        el("p", { class: "muted small" }, "Predicted windows are shaded by the model's confidence; hover a window for its times and probability."));
      for (const video of videos) {
        const windows = timeline[video];
        const summary = (x.test_videos || {})[video] || {};
        const node = taskml.svg("svg", { class: "timeline", "data-video-id": video });
        box.append(el("figure", { class: "timeline-figure", "data-video-id": video },
          el("figcaption", {}, el("strong", {}, video), " · ",
            el("span", { "data-metric": "windows", "data-value": summary.windows ?? windows.length }, `${summary.windows ?? windows.length} windows`), " · accuracy ",
            el("span", { "data-metric": "accuracy", "data-value": summary.accuracy ?? "" }, fmt(summary.accuracy))),
          el("div", { class: "chart-box" }, node)));
        const span = (w) => `${fmt(w.start, 2)}–${fmt(w.end, 2)} s`;
        charts.lanes(node, {
          labels,
          name: `${video}: true and predicted labels over time`,
          lanes: [
            { name: "true", key: "true", segments: windows.map((w) => ({ start: w.start, end: w.end, label: w.true, title: `${span(w)}: true ${w.true}` })) },
            {
              name: "predicted", key: "pred",
              segments: windows.map((w) => ({
                start: w.start, end: w.end, label: w.pred,
                opacity: w.confidence == null ? 1 : 0.35 + 0.65 * w.confidence,
                attrs: { "data-value": w.confidence ?? "", "data-true": w.true },
                title: `${span(w)}: predicted ${w.pred}${w.confidence == null ? "" : ` (p = ${fmt(w.confidence)})`}, true ${w.true}`,
              })),
            },
          ],
          // A mistake is marked up to where the next window takes over, as its segment is drawn.
          marks: windows.map((w, k) => [w, windows[k + 1]]).filter(([w]) => w.true !== w.pred).map(([w, next]) => ({
            start: w.start, end: w.end, drawEnd: next && next.start > w.start && next.start < w.end ? next.start : w.end,
            title: `${span(w)}: predicted ${w.pred}, true ${w.true}`,
          })),
        });
      }
    }

    const reload = debounce(load, 250);
    followJobs((job) => {
      if (job.kind !== "training" || job.target_id !== id) return;
      if (isTerminal(job.status)) { reload(); return; }
      badge.className = `badge ${job.status}`;
      badge.textContent = job.status;
      renderJob({ status: job.status }, job);
    }, { poll: reload, busy: () => !isTerminal(status) });
    load();
  }

  // =================================================================== ablations
  function initAblations(form) {
    const box = document.getElementById("ablation-list");
    const note = document.getElementById("ablation-progress");
    let ablations = [];

    async function loadDatasets() {
      const select = form.elements.dataset;
      const keep = select.value;
      try {
        const datasets = await all("/api/v1/datasets/?status=succeeded&ordering=-created_at");
        select.replaceChildren(...(datasets.length
          ? datasets.map((d) => el("option", { value: d.id, selected: String(d.id) === keep },
            `${d.name} · ${(d.params && d.params.groups || []).join("+") || "all groups"} · ${d.test_size} test windows`))
          : [el("option", { value: "" }, "no built datasets yet: build one first")]));
      } catch (err) {
        select.replaceChildren(el("option", { value: "" }, "could not load datasets"));
      }
    }

    const signed = (x) => (x === null || x === undefined ? "–" : `${x > 0 ? "+" : x < 0 ? "−" : "±"}${fmt(Math.abs(x), 3)}`);
    function deltaCell(x) {
      return el("td", { class: `num ${x > 1e-9 ? "delta-up" : x < -1e-9 ? "delta-down" : ""}`, "data-value": x ?? "" }, signed(x));
    }

    function table(a) {
      const r = a.results || {};
      const labels = r.labels || [];
      const head = el("tr", {},
        el("th", { scope: "col" }, "Group"), el("th", { scope: "col", class: "num" }, "Features"),
        el("th", { scope: "col", class: "num" }, "Accuracy"), el("th", { scope: "col", class: "num" }, "Δ accuracy"),
        el("th", { scope: "col", class: "num" }, "F1 macro"), el("th", { scope: "col", class: "num" }, "Δ F1"),
        ...labels.flatMap((name) => [el("th", { scope: "col", class: "num" }, `F1 ${name}`), el("th", { scope: "col", class: "num" }, `Δ ${name}`)]));
      const rows = (r.order || []).map((group) => {
        const g = r.groups[group];
        return el("tr", { "data-group": group },
          el("th", { scope: "row" }, group), el("td", { class: "num" }, String(g.num_features)),
          numCell(g.accuracy), deltaCell(g.delta_accuracy), numCell(g.f1_macro), deltaCell(g.delta_f1_macro),
          ...labels.flatMap((name) => [numCell(g.per_class_f1[name]), deltaCell((g.delta_per_class_f1 || {})[name])]));
      });
      return el("div", { class: "table-wrap" },
        el("table", { class: "numbers ablation-table", "data-ablation-id": a.id },
          el("caption", { class: "sr-only" }, `Ablation ${a.id}: test figures per feature group, deltas against fused`),
          el("thead", {}, head), el("tbody", {}, ...rows)));
    }

    function render() {
      box.replaceChildren();
      if (!ablations.length) { box.append(el("p", { class: "muted" }, "No ablations yet.")); return; }
      for (const a of ablations) {
        const r = a.results || {};
        const skipped = Object.entries(r.skipped || {});
        const remove = el("button", { type: "button", class: "secondary small", "aria-label": `Delete ablation ${a.id}` }, "Delete");
        remove.addEventListener("click", async () => {
          try { await api("DELETE", `/api/v1/ablations/${a.id}/`); load(); } catch (err) { toast(err.message, true); }
        });
        box.append(el("article", { class: "ablation", "data-ablation-id": a.id },
          el("h3", {}, `Ablation ${a.id} · ${a.dataset_dir} · ${a.model_type}/${a.aggregation} `, statusCell(a.status, a.job), " ", remove),
          el("p", { class: "muted small" }, `${when(a.created_at)}` + (r.sizes ? ` · train ${r.sizes.train}, val ${r.sizes.val}, test ${r.sizes.test} windows, identical splits` : "")),
          r.groups ? table(a) : "",
          ...skipped.map(([group, why]) => el("p", { class: "small skipped", "data-skipped": group }, `Skipped ${group}: ${why}`))));
      }
    }

    async function load() {
      try {
        ablations = await all("/api/v1/ablations/?ordering=-created_at");
      } catch (err) {
        box.replaceChildren(el("p", { class: "error" }, `Could not load the ablations: ${err.message}`));
        return;
      }
      render();
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const body = {
        dataset: Number(form.elements.dataset.value) || null,
        model_type: form.elements.model_type.value,
        groups: [...form.querySelectorAll('input[name="groups"]:checked')].map((c) => c.value),
      };
      if (form.elements.n_estimators.value) body.n_estimators = Number(form.elements.n_estimators.value);
      if (!body.groups.length) { form.querySelector('[data-error-for="groups"]').textContent = "Choose at least one group."; return; }
      const button = document.getElementById("start-ablation");
      button.disabled = true;
      try {
        const a = await api("POST", "/api/v1/ablations/", body);
        note.textContent = `Ablation ${a.id} queued…`;
        load();
      } catch (err) {
        showErrors(form, err);
      } finally {
        button.disabled = false;
      }
    });

    const reload = debounce(load, 300);
    followJobs((job) => {
      if (job.kind === "dataset" && isTerminal(job.status)) { loadDatasets(); return; }
      if (job.kind !== "ablation") return;
      note.textContent = isTerminal(job.status)
        ? `Ablation ${job.target_id}: ${job.status}${job.error ? ` (${job.error})` : ""}`
        : `Ablation ${job.target_id}: ${job.stage || job.status} ${Math.round((job.progress || 0) * 100)}%`;
      if (isTerminal(job.status)) reload();
    }, { poll: reload, busy: () => ablations.some((a) => !isTerminal(a.status)) });
    loadDatasets();
    load();
  }

  const form = document.getElementById("train-form");
  if (form) initList(form);
  const ablationForm = document.getElementById("ablation-form");
  if (ablationForm) initAblations(ablationForm);
  const detail = document.getElementById("model-detail");
  if (detail) initDetail(detail);
})();
