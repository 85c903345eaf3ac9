/* /retraining/: policies with their champion, runs with the holdout comparison, promotion history. */
"use strict";
(() => {
  const { api, all, el, toast, showErrors, fmt } = taskml;
  const ACTIVE = ["pending", "running"];
  const when = (iso) => (iso ? new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "–");
  const pair = (m) => (m && m.f1_macro !== undefined ? `${fmt(m.f1_macro)} / ${fmt(m.accuracy)}` : "–");

  let videos = [];
  let models = [];
  let timer = null;

  function trigger(p) {
    const parts = [];
    if (p.min_new_labels) parts.push(`${p.new_labels}/${p.min_new_labels} new labels`);
    if (p.schedule_interval_seconds) parts.push(`every ${p.schedule_interval_seconds} s`);
    if (p.schedule_crontab) parts.push(`cron ${p.schedule_crontab}`);
    if (!parts.length) parts.push("by hand");
    if (!p.enabled) parts.push("(disabled)");
    return parts.join(" · ");
  }

  const videoName = (id) => (videos.find((v) => v.id === id) || {}).stored_name || `video ${id}`;

  async function act(button, work, done) {
    const note = document.getElementById("policy-action-error");
    note.textContent = "";
    button.disabled = true;
    try {
      const result = await work();
      toast(done(result));
      await refresh();
    } catch (err) {
      note.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  }

  function policyRow(p) {
    const pick = el("select", { "aria-label": `model to make champion of ${p.name}` },
      models.map((m) => el("option", { value: m.id, selected: m.id === p.champion }, `${m.version_label} · ${m.model_type}`)));
    const runNow = el("button", { type: "button", class: "run-now", "data-policy": p.id }, "Run now");
    runNow.addEventListener("click", () => act(runNow, () => api("POST", `/api/v1/retrain-policies/${p.id}/run/`),
      (run) => `${p.name}: run ${run.id} queued`));
    const rollback = el("button", { type: "button", class: "secondary rollback", "data-policy": p.id, disabled: !p.champion }, "Rollback");
    rollback.addEventListener("click", () => act(rollback, () => api("POST", `/api/v1/retrain-policies/${p.id}/rollback/`, {}),
      (promo) => `${p.name}: champion ${promo.model_version} again`));
    const promote = el("button", { type: "button", class: "secondary promote", disabled: !models.length }, "Promote");
    promote.addEventListener("click", () => act(promote,
      () => api("POST", `/api/v1/retrain-policies/${p.id}/promote/`, { model: Number(pick.value) }),
      (promo) => `${p.name}: champion ${promo.model_version}`));
    const training = p.training_scope === "all" ? "all labelled" : p.training_videos.map(videoName).join(", ");
    return el("tr", { "data-policy": p.id },
      el("th", { scope: "row" }, p.name),
      el("td", { class: "champion" }, p.champion_version ? el("a", { href: `/models/${p.champion}/` }, p.champion_version) : "none yet"),
      el("td", {}, `${training} · ${p.holdout_videos.map(videoName).join(", ")}`),
      el("td", {}, trigger(p)),
      el("td", { class: "num" }, fmt(p.margin, 2)),
      el("td", { class: "actions" }, runNow, rollback, pick, promote));
  }

  function runRow(r) {
    const status = el("span", { class: `badge ${r.status}` }, r.status);
    const cell = el("td", {}, status);
    if (r.job && ACTIVE.includes(r.status)) {
      const pct = Math.round((r.job.progress || 0) * 100);
      cell.append(" ", el("span", { class: "muted small" }, `${r.job.stage} ${pct}%`));
    }
    if (r.job && r.job.error) cell.append(el("div", { class: "error small" }, r.job.error));
    const inc = r.incremental || {};
    let incremental = "–";
    if (inc.incremental) {
      incremental = `incremental ${fmt(inc.incremental.f1_macro)} (${fmt(inc.incremental.seconds, 1)} s) · full ${fmt(inc.full.f1_macro)} (${fmt(inc.full.seconds, 1)} s)`;
    } else if (inc.reason) {
      incremental = inc.reason;
    }
    const decision = r.decision ? el("span", {}, el("strong", { class: `decision ${r.decision}` }, r.decision), " ", el("span", { class: "muted small" }, r.reason)) : "–";
    return el("tr", { "data-run": r.id },
      el("th", { scope: "row" }, `#${r.id} `, el("span", { class: "muted small" }, when(r.created_at))),
      el("td", {}, r.policy_name),
      el("td", {}, r.trigger),
      cell,
      el("td", { class: "num" }, r.champion_before_version ? `${pair(r.champion_metrics)} · ${r.champion_before_version}` : "none"),
      el("td", { class: "num" }, r.challenger_version ? `${pair(r.challenger_metrics)} · ${r.challenger_version}` : "–"),
      el("td", { class: "small" }, incremental),
      el("td", { class: "small" }, decision));
  }

  function promotionRow(p) {
    return el("tr", {},
      el("td", {}, when(p.at)), el("td", {}, p.policy_name), el("td", {}, p.action),
      el("td", {}, p.model_version || "(deleted)"), el("td", {}, p.previous_version || "–"),
      el("td", {}, p.user || "automatic"), el("td", { class: "small" }, p.reason));
  }

  function fill(selector, rows, empty, columns) {
    const body = document.querySelector(`${selector} tbody`);
    body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: columns, class: "muted" }, empty))]));
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const [policies, runs, promotions] = await Promise.all([
        all("/api/v1/retrain-policies/?ordering=name"),
        api("GET", "/api/v1/retrain-runs/?ordering=-created_at"),
        api("GET", "/api/v1/promotions/?ordering=-at"),
      ]);
      models = await all("/api/v1/models/?status=succeeded&compact=true&ordering=-version");
      fill("#policy-list", policies.map(policyRow), "No policies yet: create one below.", 6);
      fill("#run-list", runs.results.map(runRow), "No runs yet.", 8);
      fill("#promotion-list", promotions.results.map(promotionRow), "No promotions yet.", 7);
      const busy = runs.results.some((r) => ACTIVE.includes(r.status));
      timer = setTimeout(refresh, busy ? 2000 : 10000);
    } catch (err) {
      toast(`could not load: ${err.message}`, true);
      timer = setTimeout(refresh, 10000);
    }
  }

  function choices(container, name) {
    container.replaceChildren(...(videos.length
      ? videos.map((v) => el("label", { class: "inline" }, el("input", { type: "checkbox", name, value: v.id }), ` ${v.stored_name}`))
      : [el("span", { class: "muted" }, "No videos yet: upload and label some first.")]));
  }

  async function loadVideos() {
    videos = await all("/api/v1/videos/?ordering=-created_at");
    choices(document.getElementById("training-choices"), "training_videos");
    choices(document.getElementById("holdout-choices"), "holdout_videos");
  }

  function body(form) {
    const ticked = (name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => Number(i.value));
    const number = (name) => (form.elements[name].value === "" ? undefined : Number(form.elements[name].value));
    const training = ticked("training_videos");
    const data = {
      name: form.elements.name.value,
      holdout_videos: ticked("holdout_videos"),
      training_videos: training.length ? training : null,
      model_type: form.elements.model_type.value,
      dataset_params: {
        window_sec: number("window_sec"), step_sec: number("step_sec"),
        train_ratio: number("train_ratio"), val_ratio: number("val_ratio"), test_ratio: number("test_ratio"),
      },
      min_new_labels: number("min_new_labels") ?? 0,
      schedule_interval_seconds: number("schedule_interval_seconds") ?? null,
      schedule_crontab: form.elements.schedule_crontab.value.trim(),
      margin: number("margin") ?? 0,
      incremental: form.elements.incremental.checked,
      enabled: form.elements.enabled.checked,
    };
    if (number("n_estimators") !== undefined) data.model_params = { n_estimators: number("n_estimators") };
    return data;
  }

  const form = document.getElementById("policy-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = document.getElementById("create-policy");
    button.disabled = true;
    try {
      const policy = await api("POST", "/api/v1/retrain-policies/", body(form));
      form.querySelectorAll("[data-error-for]").forEach((e) => { e.textContent = ""; });
      toast(`policy ${policy.name} created`);
      form.reset();
      await refresh();
    } catch (err) {
      showErrors(form, err);
    } finally {
      button.disabled = false;
    }
  });

  loadVideos().catch((err) => toast(`could not load videos: ${err.message}`, true)).then(refresh);
})();
