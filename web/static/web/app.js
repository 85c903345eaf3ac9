/* Shared by every page: the API client, websocket helper, messages and small SVG charts. */
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

  return { api, all, upload, socket, toast, showErrors, el, svg, colour, fmt, ApiError };
})();
