/* The live dashboard (/live/): start a live session or watch a running one, and show its
 * predictions, a 60 s history and its health as messages arrive on ws/streams/<id>/.
 * A "webcam" session is a push session: this page sends the browser camera's frames as
 * binary JPEG websocket messages. */
"use strict";
(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const form = $("#live-form");
  if (!form) return;
  const fields = form.elements;

  const HISTORY_SEC = 60; // the chart's span, in stream seconds
  const KEEP_SEC = HISTORY_SEC + 5;
  const GAP_SEC = 2; // no sample for this long: a gap in the chart
  const REDRAW_MS = 100; // at most ~10 redraws a second
  const PUSH_FPS = 10;
  const PUSH_MAX_WIDTH = 640;
  const MAX_BUFFERED = 96 * 1024; // bytes waiting in the socket: skip frames above this
  const LATENCY_WINDOW = 50;
  const FINAL = new Set(["finished", "stopped", "failed"]);
  const FORM_FIELDS = new Set(["model", "source", "video", "url", "smoothing", "realtime"]);

  const startButton = $("#start");
  const stopButton = $("#stop");
  const preview = $("#webcam-preview");
  const canvas = $("#webcam-canvas");
  const chart = $("#history");
  const alerts = $("#alerts");
  const taskBox = $("#current-task");
  const confidenceBox = $("#confidence");
  const probabilitiesBox = $("#probabilities");
  const sessionsBody = $("#sessions tbody");
  const pictureStage = $("#live-picture-stage");
  const frameImage = $("#live-frame");
  const overlay = $("#live-overlay");
  const frameCaption = $("#live-frame-caption");
  const { api, el, svg, colour, toast } = taskml;
  // MediaPipe's pose and hand skeletons (as taskml/pipeline/preview.py lists them).
  const POSE_EDGES = [[11, 12], [11, 13], [13, 15], [12, 14], [14, 16], [11, 23], [12, 24], [23, 24], [23, 25], [25, 27],
    [24, 26], [26, 28], [27, 29], [29, 31], [27, 31], [28, 30], [30, 32], [28, 32], [15, 17], [15, 19], [15, 21], [17, 19],
    [16, 18], [16, 20], [16, 22], [18, 20], [0, 1], [1, 2], [2, 3], [3, 7], [0, 4], [4, 5], [5, 6], [6, 8], [9, 10]];
  const HAND_EDGES = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [5, 9], [9, 10], [10, 11], [11, 12],
    [9, 13], [13, 14], [14, 15], [15, 16], [13, 17], [17, 18], [18, 19], [19, 20], [0, 17]];
  const VISIBLE = 0.5; // pose landmarks below this visibility are not drawn

  let view = null; // the session the dashboard shows (see attach())
  let starting = false;

  // ------------------------------------------------------------------ form

  function showFor(attribute, value) {
    form.querySelectorAll(`[${attribute}]`).forEach((box) => {
      box.hidden = box.getAttribute(attribute) !== value;
    });
  }
  fields.source.addEventListener("change", () => showFor("data-source", fields.source.value));
  fields.smoothing.addEventListener("change", () => showFor("data-smoothing", fields.smoothing.value));
  showFor("data-source", fields.source.value);
  showFor("data-smoothing", fields.smoothing.value);

  async function loadChoices() {
    const wanted = new URLSearchParams(location.search).get("model");
    const [models, videos] = await Promise.allSettled([
      taskml.all("/api/v1/models/?status=succeeded"),
      taskml.all("/api/v1/videos/"),
    ]);
    fillModels(models, wanted);
    fillVideos(videos);
  }

  function fillModels(result, wanted) {
    try {
      if (result.status === "rejected") throw result.reason;
      const models = result.value;
      fields.model.replaceChildren(
        ...(models.length
          ? [el("option", { value: "" }, "choose a model…")]
          : [el("option", { value: "" }, "no trained model yet: train one on the Models page")]),
        ...models.map((m) =>
          el("option", { value: m.id }, [
            m.filename,
            m.model_type,
            m.version_label,
            m.accuracy === null || m.accuracy === undefined ? "accuracy –" : `accuracy ${(m.accuracy * 100).toFixed(1)} %`,
          ].filter(Boolean).join(" · "))
        )
      );
      if (wanted && models.some((m) => String(m.id) === wanted)) fields.model.value = wanted;
      else if (models.length === 1) fields.model.value = String(models[0].id);
    } catch (err) {
      fields.model.replaceChildren(el("option", { value: "" }, "could not load models"));
      taskml.showErrors(form, err);
    }
  }

  function fillVideos(result) {
    try {
      if (result.status === "rejected") throw result.reason;
      const videos = result.value;
      fields.video.replaceChildren(
        ...(videos.length
          ? [el("option", { value: "" }, "choose a video…")]
          : [el("option", { value: "" }, "no video yet: upload one on the Videos page")]),
        ...videos.map((v) =>
          el("option", { value: v.id },
            `${v.original_name || v.stored_name}${v.duration ? ` · ${Number(v.duration).toFixed(1)} s` : ""} · ${v.stored_name}`)
        )
      );
      if (videos.length === 1) fields.video.value = String(videos[0].id);
    } catch (err) {
      fields.video.replaceChildren(el("option", { value: "" }, "could not load videos"));
    }
  }

  /** The API's error body with nested (smoothing) errors flattened and fields the form lacks under __all__. */
  function formErrors(err) {
    if (!(err instanceof taskml.ApiError)) return err;
    const flat = (value, prefix = "") => {
      if (value && typeof value === "object" && !Array.isArray(value)) {
        return Object.entries(value).map(([k, v]) => flat(v, k)).join("; ");
      }
      const text = [].concat(value).join(" ");
      return prefix ? `${prefix}: ${text}` : text;
    };
    const body = {};
    const general = [];
    for (const [key, value] of Object.entries(err.body || {})) {
      let field = key;
      let message = flat(value);
      if (key === "detail" || key === "alert") {
        const m = /^(\w+): ([\s\S]*)$/.exec(String(value));
        if (m && FORM_FIELDS.has(m[1])) [field, message] = [m[1], m[2]];
        else field = "__all__";
      }
      if (field === "realtime") field = "video";
      if (FORM_FIELDS.has(field)) body[field] = body[field] ? `${body[field]} ${message}` : message;
      else if (key !== "status") general.push(key === "detail" || key === "alert" || key === "non_field_errors" ? message : `${key}: ${message}`);
    }
    if (general.length) body.__all__ = general.join(" ");
    return new taskml.ApiError(err.status, body);
  }

  function clearErrors() {
    form.querySelectorAll("[data-error-for]").forEach((box) => { box.textContent = ""; });
  }

  function readForm() {
    const problems = {};
    const choice = fields.source.value;
    const body = { model: Number(fields.model.value), source: choice === "webcam" ? "push" : choice };
    if (!fields.model.value) problems.model = "Choose a trained model.";
    if (choice === "video") {
      if (!fields.video.value) problems.video = "Choose a video.";
      body.video = Number(fields.video.value);
      body.realtime = fields.realtime.checked;
    } else if (choice === "url") {
      body.url = fields.url.value.trim();
      if (!body.url) problems.url = "Enter the stream's URL.";
    }
    const method = fields.smoothing.value;
    const smoothing = { method };
    const number = (input, integer) => {
      const x = integer ? Number.parseInt(input.value, 10) : Number.parseFloat(input.value);
      if (!Number.isFinite(x)) problems.smoothing = `${input.name} must be a number.`;
      return x;
    };
    if (method === "median") smoothing.k = number(fields.k, true);
    if (method === "ema") smoothing.alpha = number(fields.alpha, false);
    if (method === "hysteresis") smoothing.min_duration = number(fields.min_duration, false);
    body.smoothing = smoothing;
    return { body, problems, webcam: choice === "webcam" };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (starting || (view && view.mine && !view.ended)) return;
    clearErrors();
    const { body, problems, webcam } = readForm();
    if (Object.keys(problems).length) {
      taskml.showErrors(form, new taskml.ApiError(400, problems));
      const first = Object.keys(problems)[0];
      (fields[first] || fields.model).focus();
      return;
    }
    starting = true;
    updateButtons();
    let stream = null;
    try {
      if (webcam) {
        try {
          stream = await openCamera();
        } catch (err) {
          addAlert(cameraProblem(err));
          return;
        }
      }
      let session;
      try {
        session = await api("POST", "/api/v1/live-sessions/", body);
      } catch (err) {
        stopTracks(stream);
        taskml.showErrors(form, formErrors(err));
        return;
      }
      attach(session, { stream, mine: true });
      stream = null;
      loadSessions();
    } finally {
      stopTracks(stream);
      starting = false;
      updateButtons();
    }
  });

  stopButton.addEventListener("click", () => {
    if (view && !view.ended) stopSession(view.id);
  });

  async function stopSession(id) {
    const v = view && view.id === id ? view : null;
    if (v) {
      v.stopping = true;
      stopWebcam(v); // stop sending at once; the worker ends the session within a second
      updateButtons();
    }
    try {
      const session = await api("POST", `/api/v1/live-sessions/${id}/stop/`);
      if (v && FINAL.has(session.status)) endView(v, session.status);
    } catch (err) {
      if (err.status === 409) {
        // it had ended already: show how
        try {
          const session = await api("GET", `/api/v1/live-sessions/${id}/`);
          if (v) endView(v, session.status);
        } catch (ignored) { /* the table refresh catches up */ }
      } else {
        if (v) { v.stopping = false; updateButtons(); }
        addAlert(`Could not stop session ${id}: ${err.message}`);
      }
    }
    loadSessions();
  }

  function updateButtons() {
    const active = view && !view.ended;
    startButton.disabled = starting || Boolean(active && view.mine);
    startButton.textContent = starting ? "Starting…" : "Start";
    stopButton.disabled = !active || view.stopping;
    stopButton.textContent = active && view.stopping ? "Stopping…" : "Stop";
  }

  // ------------------------------------------------------------------ camera

  async function openCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      const err = new Error("no camera API");
      err.name = window.isSecureContext ? "NotFoundError" : "SecurityError";
      throw err;
    }
    return navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  }

  function cameraProblem(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "PermissionDeniedError") {
      return "Camera permission was denied. Allow the camera for this site and start again.";
    }
    if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError") {
      return "No camera was found on this device.";
    }
    if (name === "NotReadableError" || name === "TrackStartError") {
      return "The camera could not be started: another application may be using it.";
    }
    if (name === "SecurityError") {
      return "The browser allows the camera only on secure pages (https:// or localhost).";
    }
    return `The camera is unavailable: ${(err && err.message) || err}`;
  }

  function stopTracks(stream) {
    if (stream) stream.getTracks().forEach((track) => track.stop());
  }

  function showPreview(v) {
    const cam = v.webcam;
    preview.srcObject = cam.stream;
    preview.hidden = false;
    preview.play().catch(() => {});
    cam.stream.getVideoTracks().forEach((track) => {
      track.addEventListener("ended", () => {
        if (view === v && !v.ended) {
          addAlert("The camera stopped.");
          stopSession(v.id);
        }
      });
    });
    $("#health-sent-row").hidden = false;
  }

  /** From the session's "started" on: ~10 JPEG frames a second over the socket, never queueing. */
  function startPushing(v) {
    const cam = v.webcam;
    if (!cam || cam.timer || v.ended) return;
    clearTimeout(v.pushFallback);
    const context = canvas.getContext("2d");
    cam.timer = setInterval(() => {
      const ws = v.conn && v.conn.ws;
      if (view !== v || !ws || ws.readyState !== WebSocket.OPEN) return;
      if (!preview.videoWidth || preview.readyState < 2) return; // the camera is still starting
      if (cam.busy || ws.bufferedAmount > Math.max(MAX_BUFFERED, cam.lastBytes)) {
        cam.skipped += 1; // the link (or the encoder) is behind: drop this frame, never build a backlog
        return;
      }
      const scale = Math.min(1, PUSH_MAX_WIDTH / preview.videoWidth);
      const width = Math.round(preview.videoWidth * scale);
      const height = Math.round(preview.videoHeight * scale);
      if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
      context.drawImage(preview, 0, 0, width, height);
      cam.busy = true;
      canvas.toBlob(async (blob) => {
        try {
          if (!blob || !cam.timer) return;
          const bytes = await blob.arrayBuffer();
          const socket = v.conn && v.conn.ws;
          if (!cam.timer || !socket || socket.readyState !== WebSocket.OPEN) return;
          socket.send(bytes);
          cam.sent += 1;
          cam.lastBytes = bytes.byteLength;
          schedule();
        } finally {
          cam.busy = false;
        }
      }, "image/jpeg", 0.7);
    }, 1000 / PUSH_FPS);
  }

  function stopWebcam(v) {
    const cam = v && v.webcam;
    if (!cam) return;
    clearTimeout(v.pushFallback);
    clearInterval(cam.timer);
    cam.timer = null;
    stopTracks(cam.stream);
    if (preview.srcObject === cam.stream) {
      preview.srcObject = null;
      preview.hidden = true;
    }
  }

  // ------------------------------------------------------------------ websocket

  /** A reconnecting websocket (not on 4401/4404); binary-capable, the current socket at .ws. */
  function connect(path, { onMessage, onState }) {
    let closed = false;
    let delay = 500;
    let timer = null;
    const handle = { ws: null, close };
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
    function open() {
      const ws = new WebSocket(url);
      handle.ws = ws;
      onState("connecting");
      ws.onopen = () => { delay = 500; onState("open"); };
      ws.onmessage = (event) => {
        if (typeof event.data !== "string") return;
        let message;
        try { message = JSON.parse(event.data); } catch (err) { return; }
        onMessage(message);
      };
      ws.onclose = (event) => {
        if (closed || handle.ws !== ws) return;
        if (event.code === 4401 || event.code === 4404) { onState("refused", event.code); return; }
        onState("reconnecting");
        timer = setTimeout(open, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    function close() {
      closed = true;
      clearTimeout(timer);
      if (handle.ws && handle.ws.readyState <= WebSocket.OPEN) handle.ws.close(1000);
    }
    open();
    return handle;
  }

  // ------------------------------------------------------------------ the dashboard's session

  /** Show session (an API object) on the dashboard; stream: the camera of a webcam session this page started. */
  function attach(session, { stream = null, mine = false } = {}) {
    detach();
    const v = {
      id: session.id,
      session,
      mine,
      status: session.status,
      ended: false,
      stopping: false,
      started: false,
      hellos: 0,
      labels: [],
      history: [], // {t, label, conf}; label null before the first window
      lastT: null,
      latencies: [],
      frames: 0,
      pictures: 0,
      droppedBase: 0,
      droppedLast: 0,
      lastSeq: null, // the newest session message shown: an older one arriving late is ignored
      latest: session.last_prediction && session.last_prediction.task_prediction ? session.last_prediction : null,
      shownTask: "—", // what #current-task says (set below)
      model: session.model_file || "–",
      source: describeSource(session),
      connection: "connecting",
      webcam: stream ? { stream, timer: null, busy: false, sent: 0, skipped: 0, lastBytes: 0 } : null,
      pushFallback: null,
      conn: null,
    };
    view = v;
    alerts.replaceChildren();
    probabilitiesBox.replaceChildren();
    $("#live-legend").replaceChildren("Predicted task as coloured bands, confidence as the line; the last 60 s of the stream.");
    $("#health-sent-row").hidden = !v.webcam;
    $("#live-session-name").textContent = `#${v.id}`;
    if (taskBox.textContent !== "—") taskBox.textContent = "—";
    taskBox.classList.remove("live-waiting");
    taskBox.style.removeProperty("--task-colour");
    if (v.webcam) showPreview(v);
    pictureStage.hidden = true;
    overlay.replaceChildren();
    setStatus(v, v.status);
    v.conn = connect(session.websocket || `/ws/streams/${session.id}/`, {
      onMessage: (message) => { if (view === v) receive(v, message); },
      onState: (state, code) => {
        if (view !== v) return;
        v.connection = state;
        if (state === "open" && !$("#show-picture").checked) sendPictures(v, false);
        if (state === "refused") {
          addAlert(code === 4401 ? "You are signed out: sign in again to watch." : `Session ${v.id} is not yours or no longer exists.`);
          endView(v, v.status === "pending" || v.status === "running" ? "unknown" : v.status);
        }
        schedule();
      },
    });
    if (FINAL.has(v.status)) endView(v, v.status);
    updateButtons();
    highlightRow();
    draw(); // no numbers of the previous session linger
  }

  function detach() {
    if (!view) return;
    const v = view;
    view = null;
    stopWebcam(v);
    if (v.conn) v.conn.close();
  }

  function endView(v, status, summary) {
    if (v.ended) return;
    v.ended = true;
    v.stopping = false;
    stopWebcam(v);
    if (v.conn) v.conn.close();
    v.connection = "closed";
    setStatus(v, status);
    if (summary) {
      const parts = [plural(summary.frames ?? v.frames, "frame")];
      if (typeof summary.windows === "number") parts.push(plural(summary.windows, "window"));
      if (summary.frames_dropped) parts.push(`${plural(summary.frames_dropped, "frame")} skipped by the server`);
      toast(`Session ${v.id} ${status}: ${parts.join(", ")}.`, status === "failed");
    }
    updateButtons();
    schedule();
    loadSessions();
  }

  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function setStatus(v, status) {
    v.status = status;
    for (const box of [$("#live-status"), $("#health-status")]) {
      box.replaceChildren(box.id === "live-status" ? status : el("span", { class: `badge ${status}` }, status));
      if (box.id === "live-status") box.className = `badge ${status}`;
    }
  }

  function describeSource(s) {
    if (s.source_kind === "video") return `video ${s.video_file || s.video || ""}${s.realtime === false ? " (every frame)" : ""}`.trim();
    if (s.source_kind === "url") return s.url || "network stream";
    if (s.source_kind === "push") return "browser camera (pushed frames)";
    if (s.source_kind === "camera") return `server camera ${s.camera_index ?? ""}`.trim();
    return s.source_kind || "–";
  }

  function receive(v, m) {
    if (typeof m.dropped === "number") v.droppedLast = m.dropped;
    switch (m.stage) {
      case "hello":
        if (v.hellos > 0) { v.droppedBase += v.droppedLast; v.droppedLast = 0; } // a fresh connection counts from 0
        v.hellos += 1;
        if (m.model_version) v.model = `${v.session.model_file || ""} ${m.model_version}`.trim();
        if (!v.latest && m.last_prediction && m.last_prediction.task_prediction) v.latest = m.last_prediction;
        if (FINAL.has(m.status)) { endView(v, m.status); return; }
        if (m.status !== v.status) setStatus(v, m.status);
        if (m.status === "running" && v.webcam && !v.started && !v.pushFallback) {
          // "started" was published before this socket joined (or on a reconnect): the
          // session has its push channel from "running" on, so begin shortly anyway
          v.pushFallback = setTimeout(() => startPushing(v), 3000);
        }
        break;
      case "started":
        v.started = true;
        if (Array.isArray(m.labels)) setLabels(v, m.labels);
        if (m.model_version) v.model = `${v.session.model_file || ""} ${m.model_version}`.trim();
        if (v.status !== "running") setStatus(v, "running");
        if (v.webcam) startPushing(v);
        loadSessions();
        break;
      case "sample":
        if (typeof m.seq === "number") {
          if (v.lastSeq !== null && m.seq <= v.lastSeq) break; // older than what is shown
          v.lastSeq = m.seq;
        }
        v.frames += 1;
        if (v.status !== "running") setStatus(v, "running");
        if (typeof m.decoded_at === "number") {
          v.latencies.push(Date.now() - m.decoded_at * 1000);
          if (v.latencies.length > LATENCY_WINDOW) v.latencies.shift();
        }
        if (m.probabilities && Object.keys(m.probabilities).some((label) => !v.labels.includes(label))) {
          setLabels(v, [...v.labels, ...Object.keys(m.probabilities).filter((label) => !v.labels.includes(label))]);
        }
        if (typeof m.t === "number") {
          if (v.lastT !== null && m.t < v.lastT - 1) v.history = []; // the stream's clock restarted
          v.lastT = m.t;
          v.history.push({ t: m.t, label: m.task_prediction ?? null, conf: m.task_confidence ?? null });
          while (v.history.length && v.history[0].t < m.t - KEEP_SEC) v.history.shift();
        }
        v.latest = m;
        break;
      case "frame":
        v.pictures += 1;
        drawPicture(v, m);
        break;
      case "alert":
        addAlert(m.message || "alert");
        break;
      case "finished":
        endView(v, m.status || "finished", m);
        return;
      default:
        break;
    }
    schedule();
  }

  // ------------------------------------------------------------------ the analysed frame

  function sendPictures(v, on) {
    const ws = v.conn && v.conn.ws;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action: "frames", on }));
  }

  /** The picture of a "frame" message, its overlays in the picture's own pixels, and the predicted task. */
  function drawPicture(v, m) {
    if (!$("#show-picture").checked || typeof m.jpeg_base64 !== "string") return;
    const w = m.width, h = m.height;
    frameImage.src = `data:image/jpeg;base64,${m.jpeg_base64}`;
    frameImage.width = w;
    frameImage.height = h;
    frameImage.dataset.frameIndex = m.frame_index;
    overlay.setAttribute("viewBox", `0 0 ${w} ${h}`);
    overlay.dataset.frameIndex = m.frame_index;
    const at = (p) => [p[0] * w, p[1] * h];
    const skeleton = (cls, points, edges, visible, radius) => {
      const group = svg("g", { class: cls });
      if (!points) return group;
      for (const [a, b] of edges) {
        if (!visible(points[a]) || !visible(points[b])) continue;
        const [x1, y1] = at(points[a]);
        const [x2, y2] = at(points[b]);
        group.append(svg("line", { x1, y1, x2, y2 }));
      }
      points.forEach((p, i) => {
        if (!visible(p)) return;
        const [cx, cy] = at(p);
        group.append(svg("circle", { cx, cy, r: radius, "data-index": i, "data-x": p[0], "data-y": p[1] }));
      });
      return group;
    };
    const groups = [
      skeleton("pose", m.pose, POSE_EDGES, (p) => p && (p[2] ?? 1) >= VISIBLE, 3),
      skeleton("hand left", m.left_hand, HAND_EDGES, (p) => Boolean(p), 2),
      skeleton("hand right", m.right_hand, HAND_EDGES, (p) => Boolean(p), 2),
    ];
    const objects = svg("g", { class: "objects" });
    for (const o of m.objects || []) {
      const [x0, y0] = at(o.box);
      const [x1, y1] = at([o.box[2], o.box[3]]);
      const box = svg("rect", { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0), "data-name": o.name, "data-box": o.box.join(",") });
      const label = svg("text", { x: x0 + 3, y: Math.max(12, y0 - 3) });
      label.textContent = `${o.name} ${Math.round(o.confidence * 100)}%`;
      objects.append(box, label);
    }
    groups.push(objects);
    overlay.replaceChildren(...groups);
    const task = m.task_prediction ?? null;
    frameCaption.textContent = m.caption || (task === null ? "waiting for the first window…"
      : `${task}${typeof m.task_confidence === "number" ? ` · ${(m.task_confidence * 100).toFixed(0)} %` : ""}`);
    frameCaption.dataset.task = task ?? "";
    pictureStage.hidden = false;
  }

  for (const [id, cls] of [["#show-pose", "hide-pose"], ["#show-hands", "hide-hands"], ["#show-objects", "hide-objects"]]) {
    $(id).addEventListener("change", (e) => overlay.classList.toggle(cls, !e.target.checked));
  }
  $("#show-picture").addEventListener("change", (e) => {
    const on = e.target.checked;
    if (!on) pictureStage.hidden = true;
    if (view) sendPictures(view, on); // the server stops sending pictures to this page while off
  });

  function setLabels(v, labels) {
    v.labels = labels.slice();
    probabilitiesBox.replaceChildren(
      ...v.labels.map((label) =>
        el("div", { class: "live-prob", "data-label": label },
          el("span", { class: "live-prob-label" }, label),
          el("div", { class: "live-bar", "aria-hidden": "true" }, el("div", { class: "live-bar-fill", style: `background:${colour(label, v.labels)}` })),
          el("span", { class: "live-prob-value" }, "–"))
      )
    );
    $("#live-legend").replaceChildren(
      ...v.labels.map((label) =>
        el("span", { class: "live-key" }, el("span", { class: "live-swatch", style: `background:${colour(label, v.labels)}` }), label)),
      el("span", { class: "live-key" }, el("span", { class: "live-swatch live-swatch-line" }), "confidence")
    );
  }

  // ------------------------------------------------------------------ alerts

  function addAlert(message) {
    const first = alerts.firstElementChild;
    if (first && first.dataset.message === message) {
      const count = Number(first.dataset.count) + 1;
      first.dataset.count = String(count);
      first.querySelector(".live-alert-count").textContent = ` (×${count})`;
      return;
    }
    const time = new Date().toLocaleTimeString();
    alerts.prepend(
      el("li", { "data-message": message, "data-count": "1" },
        el("time", {}, time), " ", message, el("span", { class: "live-alert-count" }, ""))
    );
    while (alerts.children.length > 6) alerts.lastElementChild.remove();
  }

  // ------------------------------------------------------------------ drawing (throttled)

  let drawTimer = null;
  let lastDraw = 0;
  function schedule() {
    if (drawTimer !== null) return;
    const wait = Math.max(0, REDRAW_MS - (performance.now() - lastDraw));
    drawTimer = setTimeout(() => requestAnimationFrame(draw), wait);
  }

  function draw() {
    drawTimer = null;
    lastDraw = performance.now();
    if (!view) return;
    drawNow(view);
    drawHealth(view);
    drawHistory(view);
  }

  function drawNow(v) {
    const m = v.latest;
    const label = m && m.task_prediction != null ? String(m.task_prediction) : null;
    const text = label ?? (v.ended ? "—" : v.frames ? "waiting for the first window…" : "—");
    // Only a change touches the live region, so screen readers announce labels, not frames.
    if (text !== v.shownTask) {
      v.shownTask = text;
      taskBox.textContent = text;
      taskBox.classList.toggle("live-waiting", !label);
      if (label) taskBox.style.setProperty("--task-colour", colour(label, v.labels.length ? v.labels : null));
      else taskBox.style.removeProperty("--task-colour");
    }
    const confidence = m && typeof m.task_confidence === "number" ? m.task_confidence : null;
    $(".live-confidence-value", confidenceBox).textContent = confidence === null ? "–" : `${(confidence * 100).toFixed(1)} %`;
    const fill = $(".live-bar-fill", confidenceBox);
    fill.style.width = `${confidence === null ? 0 : Math.max(0, Math.min(1, confidence)) * 100}%`;
    if (label) fill.style.background = colour(label, v.labels.length ? v.labels : null);
    const probabilities = (m && m.probabilities) || {};
    probabilitiesBox.querySelectorAll(".live-prob").forEach((row) => {
      const p = probabilities[row.dataset.label];
      row.classList.toggle("top", row.dataset.label === label);
      $(".live-bar-fill", row).style.width = `${typeof p === "number" ? p * 100 : 0}%`;
      $(".live-prob-value", row).textContent = typeof p === "number" ? `${(p * 100).toFixed(1)} %` : "–";
    });
  }

  function median(values) {
    if (!values.length) return null;
    const sorted = values.slice().sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }

  function drawHealth(v) {
    $("#health-connection").textContent = v.connection;
    $("#health-frames").textContent = String(v.frames);
    // Updates the server replaced with newer ones while this page was behind (newest wins).
    $("#health-dropped").textContent = String(v.droppedBase + v.droppedLast);
    const latency = median(v.latencies);
    $("#health-latency").textContent = latency === null ? "–" : `${Math.round(latency)} ms`;
    $("#health-model").textContent = v.model;
    $("#health-source").textContent = v.source;
    if (v.webcam) $("#health-sent").textContent = `${v.webcam.sent}${v.webcam.skipped ? ` (${v.webcam.skipped} skipped)` : ""}`;
  }

  function drawHistory(v) {
    const width = Math.max(240, Math.round(chart.clientWidth || 600));
    const height = 170;
    chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const pad = { left: 40, right: 8, top: 8, bottom: 34 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const end = v.lastT ?? 0;
    // the last 60 s; until a minute has passed, the first minute (filling from the left)
    const begin = Math.max(end - HISTORY_SEC, v.history.length ? v.history[0].t : end);
    const x = (t) => pad.left + ((Math.max(begin, Math.min(begin + HISTORY_SEC, t)) - begin) / HISTORY_SEC) * plotW;
    const y = (c) => pad.top + (1 - Math.max(0, Math.min(1, c))) * plotH;
    const labels = v.labels.length ? v.labels : null;
    const nodes = [];
    // grid: confidence 0, 50, 100 %; a tick every 10 stream seconds
    for (const c of [0, 0.5, 1]) {
      nodes.push(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(c), y2: y(c), class: "live-grid" }));
      nodes.push(svg("text", { x: pad.left - 4, y: y(c) + 4, "text-anchor": "end", class: "live-axis" }, `${c * 100}%`));
    }
    for (let s = Math.ceil(begin / 10) * 10; s <= begin + HISTORY_SEC; s += 10) {
      nodes.push(svg("line", { x1: x(s), x2: x(s), y1: pad.top, y2: pad.top + plotH, class: "live-grid" }));
      nodes.push(svg("text", { x: x(s), y: height - 4, "text-anchor": "middle", class: "live-axis" }, `${s} s`));
    }
    // bands: runs of one predicted label; a gap in the samples breaks them
    const points = v.history.filter((p) => p.t >= begin - GAP_SEC);
    const strip = pad.top + plotH + 4;
    let run = null;
    const flush = (until) => {
      if (run && run.label !== null && until > run.from) {
        const x0 = x(run.from), x1 = x(until);
        if (x1 - x0 > 0.2) {
          const fill = colour(run.label, labels);
          nodes.push(svg("rect", { x: x0, y: pad.top, width: x1 - x0, height: plotH, fill, "fill-opacity": 0.16 }));
          nodes.push(svg("rect", { x: x0, y: strip, width: x1 - x0, height: 10, fill }, svg("title", {}, `${run.label}: ${run.from.toFixed(1)}–${until.toFixed(1)} s`)));
        }
      }
    };
    for (let i = 0; i < points.length; i += 1) {
      const p = points[i];
      const next = points[i + 1];
      if (!run || run.label !== p.label) { if (run) flush(p.t); run = { label: p.label, from: p.t }; }
      if (!next || next.t - p.t > GAP_SEC) { flush(next ? p.t : end); run = null; }
    }
    // confidence: a line, broken at gaps
    let path = "";
    let previous = null;
    for (const p of points) {
      if (p.conf === null || p.t < begin) { previous = null; continue; }
      path += `${previous === null || p.t - previous > GAP_SEC ? "M" : "L"}${x(p.t).toFixed(1)},${y(p.conf).toFixed(1)}`;
      previous = p.t;
    }
    if (path) nodes.push(svg("path", { d: path, class: "live-line" }));
    if (!points.length) {
      nodes.push(svg("text", { x: pad.left + plotW / 2, y: pad.top + plotH / 2, "text-anchor": "middle", class: "live-axis" },
        v.ended ? "no samples" : "waiting for samples…"));
    }
    const title = chart.querySelector("title");
    chart.replaceChildren(title, ...nodes);
  }
  window.addEventListener("resize", schedule);

  // ------------------------------------------------------------------ sessions table

  let tableKey = "";
  async function loadSessions() {
    let page;
    try {
      page = await api("GET", "/api/v1/live-sessions/");
    } catch (err) {
      sessionsBody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "error" }, `Could not load sessions: ${err.message}`)));
      tableKey = "";
      return;
    }
    const sessions = page.results || [];
    // the dashboard's session ended without its "finished" reaching us (a lost socket, a killed worker)
    const mine = view && !view.ended && sessions.find((s) => s.id === view.id);
    if (mine && FINAL.has(mine.status)) endView(view, mine.status);
    const key = JSON.stringify(sessions.map((s) => [s.id, s.status, s.frames_processed, s.started_at]));
    if (key === tableKey) { highlightRow(); return; }
    tableKey = key;
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("#sessions button");
    const focusKey = focused ? `${focused.dataset.action}-${focused.dataset.id}` : null;
    if (!sessions.length) {
      sessionsBody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No session yet.")));
      return;
    }
    sessionsBody.replaceChildren(...sessions.map(sessionRow));
    highlightRow();
    if (focusKey) {
      const again = sessionsBody.querySelector(`button[data-action="${focusKey.split("-")[0]}"][data-id="${focusKey.split("-")[1]}"]`);
      if (again) again.focus();
    }
  }

  function sessionRow(s) {
    const active = s.status === "pending" || s.status === "running";
    const when = s.started_at || s.created_at;
    const actions = el("td", { class: "live-actions" });
    if (active) {
      actions.append(
        el("button", { type: "button", class: "secondary", "data-action": "watch", "data-id": s.id, "aria-label": `Watch session ${s.id}`, onclick: () => watch(s.id) }, "watch"),
        " ",
        el("button", { type: "button", class: "secondary", "data-action": "stop", "data-id": s.id, "aria-label": `Stop session ${s.id}`, onclick: () => stopSession(s.id) }, "stop")
      );
    } else if (s.error) {
      actions.append(el("span", { class: "muted live-error-text", title: s.error }, s.error.length > 60 ? `${s.error.slice(0, 60)}…` : s.error));
    }
    return el("tr", { "data-id": s.id },
      el("td", { "data-label": "#" }, String(s.id)),
      el("td", { "data-label": "status" }, el("span", { class: `badge ${s.status}` }, s.status)),
      el("td", { "data-label": "source", class: "live-source-cell" }, describeSource(s)),
      el("td", { "data-label": "model" }, s.model_file || String(s.model)),
      el("td", { "data-label": "frames" }, String(s.frames_processed ?? 0)),
      el("td", { "data-label": "started", class: "live-when" }, when ? el("time", { datetime: when }, new Date(when).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" })) : "–"),
      actions);
  }

  function highlightRow() {
    sessionsBody.querySelectorAll("tr[data-id]").forEach((row) => {
      const current = view && String(view.id) === row.dataset.id;
      if (current) row.setAttribute("aria-current", "true"); else row.removeAttribute("aria-current");
      const button = row.querySelector('button[data-action="watch"]');
      if (button) {
        const watching = current && !view.ended;
        button.disabled = Boolean(watching);
        button.textContent = watching ? "watching" : "watch";
      }
    });
  }

  async function watch(id) {
    if (view && view.id === id && !view.ended) return;
    let session;
    try {
      session = await api("GET", `/api/v1/live-sessions/${id}/`);
    } catch (err) {
      toast(`Could not open session ${id}: ${err.message}`, true);
      return;
    }
    if (view && view.webcam && !view.ended) {
      // its frames come from this page: leaving it would only let it starve
      const previous = view.id;
      await stopSession(previous);
      toast(`Stopped session ${previous}: its camera frames came from this page.`);
    }
    attach(session);
    const heading = $("#live-dash-title");
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }

  $("#live-refresh").addEventListener("click", loadSessions);
  setInterval(() => { if (!document.hidden) loadSessions(); }, 5000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) { loadSessions(); schedule(); } });

  // a page that leaves stops the webcam session it feeds (video and stream sessions run on)
  window.addEventListener("pagehide", () => {
    if (!view || view.ended || !view.webcam) return;
    const ws = view.conn && view.conn.ws;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action: "stop" }));
    fetch(`/api/v1/live-sessions/${view.id}/stop/`, {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
      headers: { "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content, Accept: "application/json" },
    }).catch(() => {});
    stopWebcam(view);
  });

  // ------------------------------------------------------------------ start

  updateButtons();
  schedule();
  loadChoices();
  loadSessions().then(() => {
    const id = Number(new URLSearchParams(location.search).get("session"));
    if (id) watch(id);
  });
})();
