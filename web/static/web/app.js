/* Shared by every page: the API client, websocket helper, messages, small SVG charts, and the
   jobs every page follows (ws/jobs/ updates, a 5 s poll for those missed, status cells). */
"use strict";
const taskml = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  class ApiError extends Error {
    constructor(status, body) {
      super(ApiError.describe(body) || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
    }
    static describe(body) {
      if (!body || typeof body !== "object") return "";
      if (body.alert) return body.alert;
      if (body.detail) return body.detail;
      return Object.entries(body).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ");
    }
    /** {field: "message"} for showing errors next to the fields they concern. */
    fieldErrors() {
      const flatten = (value) => {
        if (value && typeof value === "object" && !Array.isArray(value)) {
          return Object.entries(value).map(([k, v]) => `${k}: ${flatten(v)}`).join("; ");
        }
        return [].concat(value).map((v) => (v && typeof v === "object" ? flatten(v) : v)).join(" ");
      };
      const out = {};
      for (const [key, value] of Object.entries(this.body || {})) {
        if (key !== "detail" && key !== "alert" && key !== "status" && key !== "job_id" && key !== "job_url") {
          out[key] = flatten(value);
        }
      }
      // "<field>: message" in an alert (the /backend/ shape) or a detail (404s of /api/v1/).
      for (const text of [this.body.alert, this.body.detail]) {
        const m = typeof text === "string" ? /^(\w+): (.*)$/.exec(text) : null;
        if (m && !(m[1] in out)) out[m[1]] = m[2];
      }
      return out;
    }
  }

  async function api(method, url, body) {
    const options = { method, headers: { "X-CSRFToken": csrf(), Accept: "application/json" }, credentials: "same-origin" };
    if (body instanceof FormData) options.body = body;
    else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text.slice(0, 200) }; }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  /** Every page of a paginated list. */
  async function all(url) {
    const items = [];
    let next = url;
    while (next) {
      const page = await api("GET", next);
      items.push(...page.results);
      next = page.next;
    }
    return items;
  }

  /** Upload with progress: onProgress(fraction). Resolves with the JSON answer. */
  function upload(url, formData, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRFToken", csrf());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total); };
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = { detail: xhr.responseText.slice(0, 200) }; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data); else reject(new ApiError(xhr.status, data));
      };
      xhr.onerror = () => reject(new ApiError(0, { detail: "the connection failed" }));
      xhr.send(formData);
    });
  }

  /** A websocket that reconnects; onMessage(parsed JSON). Returns {send, close, socket()}. */
  function socket(path, onMessage, { reconnect = true } = {}) {
    let ws, closed = false, delay = 500;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
    const open = () => {
      ws = new WebSocket(url);
      ws.onmessage = (e) => { try { onMessage(JSON.parse(e.data)); } catch (err) { console.error(err); } };
      ws.onopen = () => { delay = 500; };
      ws.onclose = () => { if (!closed && reconnect) { setTimeout(open, delay); delay = Math.min(delay * 2, 10000); } };
    };
    open();
    return { send: (data) => ws.readyState === 1 && ws.send(data), close: () => { closed = true; ws.close(); }, socket: () => ws };
  }

  function toast(message, bad = false) {
    const box = document.createElement("div");
    box.className = "toast" + (bad ? " bad" : "");
    box.textContent = message;
    document.getElementById("toasts").append(box);
    setTimeout(() => box.remove(), bad ? 9000 : 4000);
  }

  /** Show API errors next to the fields they concern (elements [data-error-for=name]). */
  function showErrors(form, error) {
    form.querySelectorAll("[data-error-for]").forEach((el) => { el.textContent = ""; });
    const fields = error instanceof ApiError ? error.fieldErrors() : {};
    let placed = false;
    for (const [name, message] of Object.entries(fields)) {
      const el = form.querySelector(`[data-error-for="${name}"]`);
      if (el) { el.textContent = message; placed = true; }
    }
    if (!placed) {
      const general = form.querySelector('[data-error-for="__all__"]');
      if (general) general.textContent = error.message; else toast(error.message, true);
    }
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
    return node;
  }

  const svgNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs = {}, ...children) {
    const node = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  /** A stable colour per label. */
  const palette = ["#2457c5", "#d9480f", "#2b8a3e", "#ae3ec9", "#e67700", "#0c8599", "#c2255c", "#5c940d", "#364fc7", "#862e9c"];
  function colour(label, labels) {
    const i = labels ? labels.indexOf(label) : [...String(label)].reduce((a, c) => a + c.charCodeAt(0), 0);
    return palette[((i % palette.length) + palette.length) % palette.length];
  }

  const fmt = (x, digits = 3) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(digits));

  /** fn, called once calls have stopped for ms milliseconds. */
  const debounce = (fn, ms) => { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; };

  // ------------------------------------------------------------------ jobs

  /** The statuses a job (and the row it builds) ends in. */
  const TERMINAL = Object.freeze(["succeeded", "failed", "cancelled"]);
  const isTerminal = (status) => TERMINAL.includes(status);

  /** A row's status badge; while its job runs, a progress bar and the job's stage; once it
   * failed, the job's error. */
  function statusCell(status, job) {
    const cell = el("span", { class: "status" }, el("span", { class: `badge ${status}` }, status));
    if (job && !isTerminal(job.status) && status !== "succeeded") {
      const pct = Math.round((job.progress || 0) * 100);
      cell.append(el("progress", { max: 100, value: pct, "aria-label": `${job.stage || "progress"} ${pct}%` }));
      if (job.stage) cell.append(el("span", { class: "muted small" }, ` ${job.stage}`));
    }
    if (job && job.error && status === "failed") cell.append(el("div", { class: "error small" }, job.error));
    return cell;
  }

  /** A row's object with a job update applied: its job's status, stage, progress and error (and
   * the row's own status "running" once its job runs). */
  function withJob(item, job) {
    item.job = { ...(item.job || {}), id: job.id, status: job.status, stage: job.stage, progress: job.progress, error: job.error };
    if (job.status === "running") item.status = "running";
    return item;
  }

  /** Follow the user's jobs: onJob(job) for every ws/jobs/ update, the job as the API shows it
   * ({id, kind, target_id, status, stage, progress, error, …}). With poll, poll() runs every 5 s
   * while the page is visible and busy() (default: always) says something still runs: what the
   * socket missed while it reconnected. Returns {close()}. */
  function followJobs(onJob, { poll = null, busy = () => true } = {}) {
    const ws = socket("/ws/jobs/", (message) => { if (message && message.stage === "job" && message.job) onJob(message.job); });
    const timer = poll ? setInterval(() => { if (!document.hidden && busy()) poll(); }, 5000) : null;
    return { close: () => { ws.close(); clearInterval(timer); } };
  }

  /** A list of rows that each follow a job of one kind: an update of a listed row's job replaces
   * that row (render(item)); one that ends, or one for a row not listed yet, reloads the list
   * (debounced), as does the poll while any row still runs. onJob(job) sees every update first
   * (return false to skip the rest); others(job) gets the updates of other kinds of jobs. */
  function liveList({ kind, items, render, rowOf, reload, onJob = null, others = null }) {
    const refresh = debounce(reload, 300);
    return followJobs((job) => {
      if (job.kind !== kind) { if (others) others(job); return; }
      if (onJob && onJob(job) === false) return;
      const item = items().find((x) => x.id === job.target_id);
      if (!item || isTerminal(job.status)) { refresh(); return; }
      const row = rowOf(withJob(item, job));
      if (row) row.replaceWith(render(item));
    }, { poll: refresh, busy: () => items().some((x) => !isTerminal(x.status)) });
  }

  return {
    api, all, upload, socket, toast, showErrors, el, svg, colour, fmt, ApiError,
    debounce, TERMINAL, isTerminal, statusCell, withJob, followJobs, liveList,
  };
})();
