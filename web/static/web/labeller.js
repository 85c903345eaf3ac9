/* /videos/<id>/: a frame-accurate player made of frame JPEGs, a timeline labeller saving every
   edit through /api/v1/label-spans/, a lane of a model's predictions (a live session over the
   video, realtime false) and feature extraction followed live over ws/jobs/. */
"use strict";
(() => {
  const { api, all, socket, toast, el, colour, fmt, showErrors } = taskml;
  const $ = (id) => document.getElementById(id);
  const clamp = (n, lo, hi) => Math.min(hi, Math.max(lo, n));

  const root = $("labeller");
  const videoPk = Number(root.dataset.video);
  const fps = Number(root.dataset.fps) > 0 ? Number(root.dataset.fps) : 25;
  const frames = Math.max(1, Number(root.dataset.frames) || 1);
  const lastFrame = frames - 1;
  // one width for every request, so prefetched frames and the browser's HTTP cache are reused
  const frameWidth = clamp(Number(root.dataset.width) || 960, 64, 960);
  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

  const state = {
    frame: 0,
    playing: false,
    spans: new Map(), // id -> span as the server answered
    selected: null, // span id
    labels: [], // known label names, in the order they became known (their colours follow it)
    label: null, // the current label
    markStart: null,
    markEnd: null,
  };

  function report(error, target) {
    const message = error instanceof Error ? error.message : String(error);
    const box = target ? $(target) : null;
    if (box) box.textContent = message;
    toast(message, true);
  }
  const clearError = (target) => { $(target).textContent = ""; };
  // The frame clock: every frame's own time from the container (GET …/clock/), never frame / fps.
  // Until it has loaded (and for a video without one) the nominal rate stands in.
  let times = null;
  let duration = Number(root.dataset.duration) > 0 ? Number(root.dataset.duration) : frames / fps;
  /** Seconds at which a frame starts; frame `frames` is the end of the video. */
  const seconds = (frame) => {
    if (!times) return frame / fps;
    return frame >= frames ? duration : times[clamp(frame, 0, lastFrame)];
  };
  /** The frame shown at a time (binary search over the clock). */
  function frameAtTime(t) {
    if (!times) return clamp(Math.floor(t * fps + 1e-6), 0, lastFrame);
    let lo = 0, hi = lastFrame;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (times[mid] <= t + 1e-6) lo = mid; else hi = mid - 1;
    }
    return lo;
  }
  /** The frame boundary (0..frames) nearest a time: where a span edge given in seconds lands. */
  function boundaryAtTime(t) {
    if (t >= duration) return frames;
    const f = frameAtTime(t);
    const next = seconds(f + 1);
    return next - t < t - seconds(f) ? f + 1 : f;
  }
  /** Frames to move for one second from the current frame: to the frame starting nearest to one
      second away (at least one frame). */
  const secondStep = (direction) => {
    const target = clamp(boundaryAtTime(seconds(state.frame) + direction), 0, lastFrame);
    return direction > 0 ? Math.max(1, target - state.frame) : Math.min(-1, target - state.frame);
  };
  async function loadClock() {
    try {
      const clock = await api("GET", `/api/v1/videos/${videoPk}/clock/`);
      if (Array.isArray(clock.timestamps) && clock.timestamps.length === frames) {
        times = clock.timestamps;
        duration = clock.duration;
        renderRuler();
        renderAll();
        renderLane();
        frameChanged();
      }
    } catch (error) {
      report(error);
    }
  }

  // =================================================================== player

  const player = $("player");
  const playButton = $("play");
  const counter = $("frame-index");
  const buffering = $("buffering");
  const speedSelect = $("speed");

  const frameUrl = (n) => `/api/v1/videos/${videoPk}/frames/${n}/?width=${frameWidth}`;
  const MAX_IN_FLIGHT = 3; // the page's other calls need connections too
  const CACHE_LIMIT = 300;
  const cache = new Map(); // frame -> {img, ready, failed, at}
  let inFlight = 0;

  function request(n) {
    const entry = { img: new Image(), ready: false, failed: false, at: performance.now() };
    cache.set(n, entry);
    inFlight += 1;
    const settle = (ok) => {
      inFlight -= 1;
      entry.ready = ok;
      entry.failed = !ok;
      if (n === state.frame) show();
      pump();
    };
    entry.img.onload = () => settle(true);
    entry.img.onerror = () => settle(false);
    entry.img.src = frameUrl(n);
  }

  /** Frames wanted next, most wanted first: the current one, then ahead (far ahead while playing). */
  function wanted() {
    const list = [state.frame];
    const ahead = state.playing ? Math.min(150, Math.ceil(fps * Number(speedSelect.value || 1) * 3)) : 4;
    for (let i = 1; i <= ahead; i += 1) list.push(state.frame + i);
    if (!state.playing) list.push(state.frame - 1, state.frame - 2);
    return list.filter((n) => n >= 0 && n <= lastFrame);
  }

  function pump() {
    const now = performance.now();
    for (const n of wanted()) {
      if (inFlight >= MAX_IN_FLIGHT) break;
      const entry = cache.get(n);
      if (!entry || (entry.failed && now - entry.at > 5000)) request(n);
    }
    if (cache.size > CACHE_LIMIT) {
      const far = [...cache.entries()]
        .filter(([, e]) => e.ready || e.failed)
        .sort((a, b) => Math.abs(b[0] - state.frame) - Math.abs(a[0] - state.frame));
      for (const [n] of far.slice(0, cache.size - Math.floor(CACHE_LIMIT * 0.8))) cache.delete(n);
    }
  }

  let bufferingTimer = null;
  function show() {
    const entry = cache.get(state.frame);
    if (entry && entry.ready) {
      if (player.dataset.frame !== String(state.frame)) {
        player.src = entry.img.src;
        player.dataset.frame = String(state.frame);
        player.alt = `Frame ${state.frame} of ${root.dataset.videoId}`;
      }
      clearTimeout(bufferingTimer);
      bufferingTimer = null;
      buffering.hidden = true;
    } else if (entry && entry.failed) {
      buffering.hidden = false;
      buffering.textContent = `frame ${state.frame} could not be loaded`;
    } else if (!bufferingTimer && buffering.hidden) {
      bufferingTimer = setTimeout(() => {
        bufferingTimer = null;
        const current = cache.get(state.frame);
        if (!current || !current.ready) { buffering.textContent = "loading…"; buffering.hidden = false; }
      }, 200);
    }
  }

  function frameChanged() {
    counter.textContent = `frame ${state.frame} / ${frames}, ${seconds(state.frame).toFixed(2)} s`;
    timeline.setAttribute("aria-valuenow", state.frame);
    timeline.setAttribute("aria-valuetext", `frame ${state.frame}, ${seconds(state.frame).toFixed(2)} seconds`);
    playhead.style.left = pct(state.frame);
    renderMarks();
    show();
    pump();
  }

  function seek(frame) {
    const next = clamp(Math.round(frame), 0, lastFrame);
    if (state.playing) clock = { t0: performance.now(), f0: next };
    if (next === state.frame) return;
    state.frame = next;
    frameChanged();
  }

  // ------------------------------------------------------------------ playback
  let clock = null; // {t0, f0}: frame f0 was shown at time t0
  let loop = 0; // the current playback loop; a pause and play in one frame must not leave two

  const playIcon = playButton.innerHTML;
  const pauseIcon =
    '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false"><path d="M6 5h4v14H6zM14 5h4v14h-4z" fill="currentColor"/></svg>';

  function setPlaying(playing) {
    state.playing = playing;
    playButton.innerHTML = playing ? pauseIcon : playIcon;
    playButton.setAttribute("aria-label", playing ? "Pause" : "Play");
    playButton.dataset.state = playing ? "playing" : "paused";
    if (playing) {
      if (state.frame >= lastFrame) { state.frame = 0; frameChanged(); }
      clock = { t0: performance.now(), f0: state.frame };
      pump();
      const mine = ++loop;
      requestAnimationFrame((now) => tick(now, mine));
    }
  }
  const togglePlay = () => setPlaying(!state.playing);

  function tick(now, mine) {
    if (!state.playing || mine !== loop) return;
    const speed = Number(speedSelect.value) || 1;
    const due = frameAtTime(seconds(clock.f0) + ((now - clock.t0) / 1000) * speed);
    let moved = false;
    while (state.frame < due && state.frame < lastFrame) {
      const next = cache.get(state.frame + 1);
      if (!next || !(next.ready || next.failed)) {
        clock = { t0: now, f0: state.frame }; // wait for it: play every frame rather than skip
        break;
      }
      state.frame += 1;
      moved = true;
    }
    if (moved) frameChanged();
    else pump();
    if (state.frame >= lastFrame) { setPlaying(false); return; }
    requestAnimationFrame((next) => tick(next, mine));
  }

  playButton.addEventListener("click", togglePlay);
  const step = (delta) => { if (state.playing) setPlaying(false); seek(state.frame + delta); };
  $("prev-frame").addEventListener("click", () => step(-1));
  $("next-frame").addEventListener("click", () => step(1));
  $("prev-second").addEventListener("click", () => step(secondStep(-1)));
  $("next-second").addEventListener("click", () => step(secondStep(1)));
  speedSelect.addEventListener("change", () => { if (state.playing) clock = { t0: performance.now(), f0: state.frame }; });

  // =================================================================== timeline

  const timeline = $("timeline");
  const track = $("span-track");
  const ruler = timeline.querySelector(".ruler");
  const playhead = timeline.querySelector(".playhead");
  const markRange = timeline.querySelector(".mark-range");
  const pct = (frame) => `${(frame / frames) * 100}%`;
  playhead.style.width = pct(1); // a frame wide: the playhead covers exactly the frame shown

  function place(node, start, end) {
    node.style.left = pct(start);
    node.style.width = pct(end - start + 1);
  }

  /** Frame under a pointer x (for seeking). */
  function frameAt(clientX) {
    const rect = track.getBoundingClientRect();
    return clamp(Math.floor(((clientX - rect.left) / rect.width) * frames), 0, lastFrame);
  }
  /** Frame boundary nearest a pointer x: b is the edge between frames b-1 and b (for resizing). */
  function edgeAt(clientX) {
    const rect = track.getBoundingClientRect();
    return clamp(Math.round(((clientX - rect.left) / rect.width) * frames), 0, frames);
  }

  function renderRuler() {
    const width = timeline.clientWidth || 800;
    const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
    const stepSec = steps.find((s) => (width * s) / duration >= 70) || 3600;
    const label = (t) => (duration >= 60 ? `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, "0")}` : `${+t.toFixed(1)}s`);
    ruler.replaceChildren();
    for (let t = 0; t <= duration + 1e-9; t += stepSec) {
      const tick = el("span", { class: "tick" }, label(t));
      tick.style.left = pct(boundaryAtTime(t));
      ruler.append(tick);
    }
  }

  function sortedSpans() {
    return [...state.spans.values()].sort((a, b) => a.start_frame - b.start_frame || a.end_frame - b.end_frame || a.id - b.id);
  }

  function renderSpans() {
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest(".span");
    const refocus = focused ? focused.dataset.spanId : null;
    const rowEnds = []; // overlapping spans go on rows below each other
    track.replaceChildren();
    for (const span of sortedSpans()) {
      let row = rowEnds.findIndex((end) => end < span.start_frame);
      if (row === -1) { row = rowEnds.length; rowEnds.push(span.end_frame); } else rowEnds[row] = span.end_frame;
      const node = el(
        "div",
        {
          class: "span" + (span.id === state.selected ? " selected" : ""),
          role: "button",
          tabindex: 0,
          "data-span-id": span.id,
          "data-start": span.start_frame,
          "data-end": span.end_frame,
          "data-label": span.label,
          "aria-pressed": span.id === state.selected ? "true" : "false",
          "aria-label": `${span.label}, frames ${span.start_frame} to ${span.end_frame}`,
          title: `${span.label}: frames ${span.start_frame}–${span.end_frame} (${seconds(span.start_frame).toFixed(2)}–${seconds(span.end_frame + 1).toFixed(2)} s)`,
        },
        el("span", { class: "handle start", "data-edge": "start", "aria-hidden": "true" }),
        el("span", { class: "span-text" }, span.label),
        el("span", { class: "handle end", "data-edge": "end", "aria-hidden": "true" }),
      );
      place(node, span.start_frame, span.end_frame);
      node.style.setProperty("--row", row);
      node.style.setProperty("--colour", colour(span.label, state.labels));
      track.append(node);
    }
    track.style.setProperty("--rows", Math.max(1, rowEnds.length));
    if (refocus) {
      const again = track.querySelector(`[data-span-id="${refocus}"]`);
      if (again) again.focus({ preventScroll: true });
    }
  }

  function renderMarks() {
    const marks = $("marks");
    if (state.markStart === null && state.markEnd === null) {
      markRange.hidden = true;
      marks.replaceChildren("Press ", el("kbd", {}, "["), " and ", el("kbd", {}, "]"), " to mark frames.");
      return;
    }
    const start = state.markStart ?? state.markEnd;
    const end = state.markEnd ?? state.frame;
    const [a, b] = start <= end ? [start, end] : [end, start];
    markRange.hidden = false;
    place(markRange, a, b);
    const label = state.label ? ` as “${state.label}”` : " (pick a label)";
    marks.textContent =
      `start ${state.markStart ?? "–"}, end ${state.markEnd ?? `– (now ${state.frame})`}: ` +
      `frames ${a}–${b}${label}; Enter adds it.`;
  }

  function renderAll() {
    renderLabels();
    renderSpans();
    renderEditor();
    renderMarks();
  }

  // ------------------------------------------------------------------ pointer: seek, select, resize

  timeline.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    const spanNode = event.target.closest(".span");
    const handle = event.target.closest(".handle");
    if (spanNode && handle) { startResize(event, spanNode, handle.dataset.edge); return; }
    if (spanNode) { select(Number(spanNode.dataset.spanId)); return; }
    event.preventDefault();
    timeline.focus({ preventScroll: true });
    timeline.setPointerCapture(event.pointerId);
    seek(frameAt(event.clientX));
    const move = (e) => seek(frameAt(e.clientX));
    const up = () => {
      timeline.removeEventListener("pointermove", move);
      timeline.removeEventListener("pointerup", up);
      timeline.removeEventListener("pointercancel", up);
    };
    timeline.addEventListener("pointermove", move);
    timeline.addEventListener("pointerup", up);
    timeline.addEventListener("pointercancel", up);
  });

  track.addEventListener("dblclick", (event) => {
    const spanNode = event.target.closest(".span");
    if (spanNode && !event.target.closest(".handle")) seek(Number(spanNode.dataset.start));
  });

  track.addEventListener("keydown", (event) => {
    const spanNode = event.target.closest(".span");
    if (!spanNode || spanNode === clickedControl || (event.key !== "Enter" && event.key !== " ")) return;
    event.preventDefault();
    event.stopPropagation();
    const id = Number(spanNode.dataset.spanId);
    select(id === state.selected ? null : id);
  });

  function startResize(event, node, edge) {
    event.preventDefault();
    event.stopPropagation();
    const id = Number(node.dataset.spanId);
    const span = state.spans.get(id);
    if (!span) return;
    if (state.playing) setPlaying(false);
    select(id);
    let start = span.start_frame;
    let end = span.end_frame;
    node.classList.add("resizing");
    node.setPointerCapture(event.pointerId);
    const move = (e) => {
      const boundary = edgeAt(e.clientX);
      if (edge === "start") start = clamp(boundary, 0, end);
      else end = clamp(boundary - 1, start, lastFrame);
      place(node, start, end);
      node.dataset.start = start;
      node.dataset.end = end;
      $("span-info").textContent = `${span.label}: frames ${start}–${end} (${end - start + 1} frames), release to save`;
      seek(edge === "start" ? start : end); // show the frame at the edge being moved
    };
    const up = () => {
      node.removeEventListener("pointermove", move);
      node.removeEventListener("pointerup", up);
      node.removeEventListener("pointercancel", up);
      node.classList.remove("resizing");
      if (start !== span.start_frame || end !== span.end_frame) patchSpan(id, { start_frame: start, end_frame: end });
      else renderAll();
    };
    node.addEventListener("pointermove", move);
    node.addEventListener("pointerup", up);
    node.addEventListener("pointercancel", up);
  }

  // ------------------------------------------------------------------ spans through the API

  async function loadSpans() {
    try {
      const spans = await all(`/api/v1/label-spans/?video=${videoPk}&ordering=start_frame`);
      state.spans = new Map(spans.map((s) => [s.id, s]));
      for (const label of [...new Set(spans.map((s) => s.label))].sort()) knowLabel(label);
      for (const label of storedLabels()) knowLabel(label);
      if (!state.label && state.labels.length) state.label = state.labels[0];
    } catch (error) {
      report(error, "span-error");
    }
    renderAll();
  }

  let saving = false;
  async function patchSpan(id, changes) {
    clearError("span-error");
    try {
      const saved = await api("PATCH", `/api/v1/label-spans/${id}/`, changes);
      state.spans.set(saved.id, saved);
      knowLabel(saved.label);
    } catch (error) {
      report(error, "span-error");
      if (error.status === 404) { state.spans.delete(id); if (state.selected === id) state.selected = null; }
    }
    renderAll(); // the server's answer (or the unchanged span when it refused)
  }

  async function createSpan() {
    clearError("span-error");
    if (saving) return;
    if (!state.label) {
      report("Pick a label first (or add one).", "span-error");
      $("new-label").focus();
      return;
    }
    if (state.markStart === null && state.markEnd === null) {
      report("Mark the span first: [ at its first frame, ] at its last.", "span-error");
      return;
    }
    let start = state.markStart ?? state.frame;
    let end = state.markEnd ?? state.frame;
    if (end < start) [start, end] = [end, start];
    saving = true;
    try {
      const span = await api("POST", "/api/v1/label-spans/", {
        video: videoPk, start_frame: start, end_frame: end, label: state.label, source: "browser",
      });
      state.spans.set(span.id, span);
      knowLabel(span.label);
      state.selected = span.id;
      state.markStart = state.markEnd = null;
      toast(`Added “${span.label}”, frames ${span.start_frame}–${span.end_frame}`);
    } catch (error) {
      report(error, "span-error");
    } finally {
      saving = false;
    }
    renderAll();
  }

  async function deleteSpan() {
    const id = state.selected;
    if (id === null) return;
    clearError("span-error");
    try {
      await api("DELETE", `/api/v1/label-spans/${id}/`);
      state.spans.delete(id);
      state.selected = null;
    } catch (error) {
      report(error, "span-error");
      if (error.status === 404) { state.spans.delete(id); state.selected = null; }
    }
    renderAll();
  }

  /** Selection changes classes in place: re-rendering would drop the node under the pointer. */
  function select(id) {
    state.selected = id !== null && state.spans.has(id) ? id : null;
    for (const node of track.querySelectorAll(".span")) {
      const on = Number(node.dataset.spanId) === state.selected;
      node.classList.toggle("selected", on);
      node.setAttribute("aria-pressed", on ? "true" : "false");
    }
    renderEditor();
  }

  function renderEditor() {
    const span = state.selected !== null ? state.spans.get(state.selected) : null;
    const labelSelect = $("span-label");
    for (const id of ["span-label", "span-start-here", "span-end-here", "delete-span"]) $(id).disabled = !span;
    if (!span) {
      $("span-info").textContent = "None: click a span on the timeline.";
      labelSelect.replaceChildren();
      return;
    }
    $("span-info").textContent =
      `${span.label}: frames ${span.start_frame}–${span.end_frame} (${span.end_frame - span.start_frame + 1} frames, ` +
      `${seconds(span.start_frame).toFixed(2)}–${seconds(span.end_frame + 1).toFixed(2)} s), from ${span.source}`;
    const names = state.labels.includes(span.label) ? state.labels : [...state.labels, span.label];
    labelSelect.replaceChildren(...names.map((name) => el("option", { value: name, selected: name === span.label }, name)));
  }

  $("span-label").addEventListener("change", (e) => {
    if (state.selected !== null) patchSpan(state.selected, { label: e.target.value });
  });
  $("span-start-here").addEventListener("click", () => {
    if (state.selected !== null) patchSpan(state.selected, { start_frame: state.frame });
  });
  $("span-end-here").addEventListener("click", () => {
    if (state.selected !== null) patchSpan(state.selected, { end_frame: state.frame });
  });
  $("delete-span").addEventListener("click", deleteSpan);
  $("add-span").addEventListener("click", createSpan);
  const markStart = () => { state.markStart = state.frame; renderMarks(); };
  const markEnd = () => { state.markEnd = state.frame; renderMarks(); };
  $("mark-start").addEventListener("click", markStart);
  $("mark-end").addEventListener("click", markEnd);

  // =================================================================== labels

  const STORE = "taskml.labels"; // names added by hand, offered on every video
  function storedLabels() {
    try {
      const names = JSON.parse(localStorage.getItem(STORE) || "[]");
      return Array.isArray(names) ? names.filter((n) => typeof n === "string" && n.trim()) : [];
    } catch (e) {
      return [];
    }
  }
  function storeLabels(names) {
    try { localStorage.setItem(STORE, JSON.stringify(names)); } catch (e) { /* private mode: the list lives for this page */ }
  }
  function knowLabel(name) {
    if (name && !state.labels.includes(name)) state.labels.push(name);
  }

  function setCurrentLabel(name) {
    state.label = name;
    renderLabels();
    renderMarks();
  }

  function renderLabels() {
    const counts = new Map();
    for (const s of state.spans.values()) counts.set(s.label, (counts.get(s.label) || 0) + 1);
    const list = $("labels");
    list.replaceChildren();
    if (!state.labels.length) {
      list.append(el("li", { class: "muted small" }, "No labels yet: add one below."));
    }
    state.labels.forEach((name, i) => {
      const current = name === state.label;
      const count = counts.get(name) || 0;
      const chip = el(
        "button",
        {
          type: "button",
          class: "label-chip" + (current ? " current" : ""),
          "data-label": name,
          "aria-pressed": current ? "true" : "false",
          title: i < 9 ? `Make “${name}” the current label (${i + 1})` : `Make “${name}” the current label`,
          onclick: () => setCurrentLabel(name),
        },
        el("span", { class: "swatch", "aria-hidden": "true", style: `background:${colour(name, state.labels)}` }),
        i < 9 ? el("kbd", { "aria-hidden": "true" }, String(i + 1)) : "",
        el("span", { class: "label-name" }, name),
        el("span", { class: "count muted", title: `${count} span(s) on this video` }, String(count)),
      );
      const item = el("li", { class: current ? "current" : "" }, chip);
      if (!count) {
        item.append(
          el("button", {
            type: "button",
            class: "icon secondary remove-label",
            "aria-label": `Remove label ${name} from the list`,
            title: "Remove from the list (no span uses it here)",
            onclick: () => removeLabel(name),
          }, "×"),
        );
      }
      list.append(item);
    });
    $("current-label").textContent = state.label || "none";
    if (state.label) $("current-label").style.color = colour(state.label, state.labels);
  }

  function addLabel(raw) {
    const name = raw.trim();
    clearError("label-error");
    if (!name) { $("label-error").textContent = "Type a label name."; return false; }
    if (name.length > 100) { $("label-error").textContent = "Label names have at most 100 characters."; return false; }
    knowLabel(name);
    const stored = storedLabels();
    if (!stored.includes(name)) storeLabels([...stored, name]);
    setCurrentLabel(name);
    renderSpans();
    renderEditor();
    return true;
  }

  function removeLabel(name) {
    storeLabels(storedLabels().filter((n) => n !== name));
    if ([...state.spans.values()].some((s) => s.label === name)) return;
    state.labels = state.labels.filter((n) => n !== name);
    if (state.label === name) state.label = state.labels[0] || null;
    renderAll();
  }

  $("label-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("new-label");
    if (addLabel(input.value)) input.value = "";
  });

  // =================================================================== keyboard

  // A control focused by a click keeps no claim on Space and Enter (they go to the labeller);
  // one reached with the keyboard does. (:focus-visible cannot tell: a key press makes it match.)
  const CONTROLS = "button, a[href], summary, [role='button']";
  let clickedControl = null;
  document.addEventListener("pointerdown", (e) => {
    clickedControl = e.target instanceof Element ? e.target.closest(CONTROLS) : null;
  }, true);
  document.addEventListener("focusin", (e) => { if (e.target !== clickedControl) clickedControl = null; });

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.isComposing) return;
    // AltGr (Ctrl+Alt) types [ and ] on some layouts; other modified keys belong to the browser
    if (event.metaKey || event.ctrlKey !== event.altKey) return;
    const target = event.target instanceof Element ? event.target : document.body;
    if (target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])")) return;
    const control = target.closest(CONTROLS);
    const onControl = control !== null && control !== clickedControl;
    const key = event.key;
    if (key === " " || key === "Spacebar") {
      if (onControl) return;
      event.preventDefault();
      togglePlay();
    } else if (key === "ArrowLeft" || key === "ArrowRight") {
      event.preventDefault();
      const direction = key === "ArrowLeft" ? -1 : 1;
      step(event.shiftKey ? secondStep(direction) : direction);
    } else if (key === "Home" || key === "End") {
      event.preventDefault();
      step(key === "Home" ? -frames : frames);
    } else if (key === "[") {
      event.preventDefault();
      markStart();
    } else if (key === "]") {
      event.preventDefault();
      markEnd();
    } else if (key === "Enter") {
      if (onControl) return;
      event.preventDefault();
      createSpan();
    } else if (key === "Delete" || key === "Backspace") {
      if (state.selected === null) return;
      event.preventDefault();
      deleteSpan();
    } else if (key === "Escape") {
      state.markStart = state.markEnd = null;
      select(null);
      renderMarks();
      if (suggestions.selected !== null) { suggestions.selected = null; renderSuggestions(); }
    } else if (/^[acr]$/i.test(key) && !event.shiftKey && suggestions.selected !== null) {
      event.preventDefault();
      decide({ a: "accept", c: "correct", r: "reject" }[key.toLowerCase()]);
    } else if (/^[1-9]$/.test(key) && !event.shiftKey) {
      const name = state.labels[Number(key) - 1];
      if (name) { event.preventDefault(); setCurrentLabel(name); }
    }
  });

  // =================================================================== predictions lane

  const modelSelect = $("prediction-model");
  const runButton = $("run-predictions");
  const stopButton = $("stop-predictions");
  const predictionStatus = $("prediction-status");
  const lane = $("lane-predictions");
  const prediction = { session: null, ws: null, windows: new Map(), labels: null, pending: false };

  async function loadModels() {
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
          (message.dropped ? ` · ${message.dropped} messages dropped` : "");
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
  function renderLane() {
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

  // =================================================================== suggestions lane (active learning)
  // The open spans of the latest labelling round for this video, coloured by uncertainty; each can be
  // accepted (its predicted label), corrected (the label chosen in the panel) or rejected, by button or
  // by A / C / R once selected. "Suggest spans" starts a round with the chosen model.

  const suggestionModel = $("suggestion-model");
  const startRoundButton = $("start-round");
  const roundStatus = $("round-status");
  const suggestionLane = $("lane-suggestions");
  const suggestionPanel = $("suggestion-panel");
  const suggestionInfo = $("suggestion-info");
  const suggestionLabel = $("suggestion-label");
  const roundActions = $("round-actions");
  const suggestions = { round: null, selected: null, timer: null, busy: false };

  function uncertaintyColour(u) {
    const x = clamp(Number(u) || 0, 0, 1);
    return `hsl(${Math.round(45 * (1 - x))} ${Math.round(90 - 10 * x)}% ${Math.round(55 - 10 * x)}%)`;
  }

  const openSpans = () => (suggestions.round ? suggestions.round.spans.filter((s) => s.status === "open") : []);

  function describeRound(r) {
    if (!r) return "no round for this video yet";
    const base = `round ${r.id} (${r.model_file})`;
    if (r.status === "failed") return `${base}: failed: ${(r.job && r.job.error) || "no reason given"}`;
    if (r.state === "suggesting") return `${base}: finding uncertain spans…`;
    if (r.state === "open") return `${base}: ${openSpans().length} of ${r.spans_shown} spans open · ${r.labels_added} labelled`;
    if (r.state === "retraining") return `${base}: retraining…`;
    const after = r.accuracy_after === null ? "" : ` · accuracy ${fmt(r.accuracy_before, 3)} → ${fmt(r.accuracy_after, 3)}`;
    return `${base}: closed${r.retrained_model_file ? `, retrained as ${r.retrained_model_file}` : ""}${after}`;
  }

  function renderSuggestions() {
    const r = suggestions.round;
    roundStatus.textContent = describeRound(r);
    suggestionLane.replaceChildren();
    const spans = r && r.state === "open" ? openSpans() : [];
    for (const span of spans) {
      const node = el(
        "div",
        {
          class: "suggestion" + (span.id === suggestions.selected ? " selected" : ""),
          role: "button",
          tabindex: 0,
          "data-suggestion-id": span.id,
          "data-rank": span.rank,
          "data-start": span.start_frame,
          "data-end": span.end_frame,
          "data-uncertainty": span.uncertainty,
          "aria-pressed": span.id === suggestions.selected ? "true" : "false",
          "aria-label": `Suggestion ${span.rank}: ${span.predicted_label}, frames ${span.start_frame} to ${span.end_frame}, uncertainty ${fmt(span.uncertainty, 2)}`,
          title: `#${span.rank} ${span.predicted_label} (confidence ${fmt(span.confidence, 2)}, uncertainty ${fmt(span.uncertainty, 2)}): frames ${span.start_frame}–${span.end_frame}`,
        },
        el("span", { class: "span-text" }, `#${span.rank} ${span.predicted_label}`),
      );
      place(node, span.start_frame, span.end_frame);
      node.style.background = uncertaintyColour(span.uncertainty);
      suggestionLane.append(node);
    }
    if (!spans.length) {
      const text = !r ? "Pick a model and press “Suggest spans”." : r.state === "open" ? "Every span of this round is decided: close it." : describeRound(r);
      suggestionLane.append(el("span", { class: "lane-empty muted small" }, text));
    }
    if (!spans.some((s) => s.id === suggestions.selected)) suggestions.selected = null;
    const selected = spans.find((s) => s.id === suggestions.selected);
    suggestionPanel.hidden = !selected;
    if (selected) {
      suggestionInfo.textContent =
        `#${selected.rank}: frames ${selected.start_frame}–${selected.end_frame} (${selected.start_time.toFixed(2)}–${selected.end_time.toFixed(2)} s), ` +
        `predicted “${selected.predicted_label}”, confidence ${fmt(selected.confidence, 2)}, uncertainty ${fmt(selected.uncertainty, 2)}` +
        (selected.reasons.length ? ` (${selected.reasons.join(", ").replaceAll("_", " ")})` : "");
      const names = [...new Set([...state.labels, selected.predicted_label])];
      const keep = suggestionLabel.value;
      suggestionLabel.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
      const preferred = names.includes(keep) ? keep : names.find((n) => n !== selected.predicted_label) || names[0];
      suggestionLabel.value = preferred;
    }
    roundActions.hidden = !(r && r.state === "open");
  }

  function selectSuggestion(id) {
    suggestions.selected = id;
    const span = openSpans().find((s) => s.id === id);
    if (span) seek(span.start_frame);
    renderSuggestions();
    const node = suggestionLane.querySelector(`[data-suggestion-id="${id}"]`);
    if (node) node.focus({ preventScroll: true });
  }

  suggestionLane.addEventListener("click", (event) => {
    const node = event.target instanceof Element ? event.target.closest(".suggestion") : null;
    if (node) selectSuggestion(Number(node.dataset.suggestionId));
  });
  suggestionLane.addEventListener("keydown", (event) => {
    const node = event.target instanceof Element ? event.target.closest(".suggestion") : null;
    if (node && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      selectSuggestion(Number(node.dataset.suggestionId));
    }
  });

  async function loadRound() {
    clearTimeout(suggestions.timer);
    try {
      const page = await api("GET", `/api/v1/labelling-rounds/?videos=${videoPk}&ordering=-created_at`);
      const rounds = Array.isArray(page) ? page : page.results;
      suggestions.round = rounds.length ? rounds[0] : null;
    } catch (error) {
      report(error, "suggestion-error");
    }
    renderSuggestions();
    const r = suggestions.round;
    if (r && (r.state === "suggesting" || r.state === "retraining") && !TERMINAL.has(r.status)) {
      suggestions.timer = setTimeout(loadRound, 1500); // the round's job is running: look again soon
    }
    startRoundButton.disabled = !suggestionModel.value || Boolean(r && r.state === "suggesting" && !TERMINAL.has(r.status));
  }

  async function loadSuggestionModels() {
    try {
      const models = await all("/api/v1/models/?status=succeeded&ordering=-created_at&compact=true");
      if (!models.length) {
        suggestionModel.replaceChildren(el("option", { value: "" }, "no trained models yet"));
        suggestionModel.disabled = true;
        startRoundButton.disabled = true;
        return;
      }
      suggestionModel.replaceChildren(
        ...models.map((m) => el("option", { value: m.id }, `${m.version_label || m.filename} · ${m.model_type} · acc ${fmt(m.accuracy, 2)}`)),
      );
      suggestionModel.disabled = false;
      startRoundButton.disabled = false;
    } catch (error) {
      suggestionModel.replaceChildren(el("option", { value: "" }, "could not load models"));
      startRoundButton.disabled = true;
      report(error, "suggestion-error");
    }
  }

  startRoundButton.addEventListener("click", async () => {
    const model = Number(suggestionModel.value);
    if (!model) return;
    clearError("suggestion-error");
    startRoundButton.disabled = true;
    try {
      suggestions.round = await api("POST", "/api/v1/labelling-rounds/", { model, videos: [videoPk] });
      suggestions.selected = null;
      renderSuggestions();
      loadRound();
    } catch (error) {
      startRoundButton.disabled = false;
      report(error, "suggestion-error");
    }
  });

  async function decide(decision) {
    const id = suggestions.selected;
    if (id === null || suggestions.busy) return;
    const body = decision === "correct" ? { label: suggestionLabel.value } : undefined;
    if (decision === "correct" && !body.label) { report("Choose the label to correct to.", "suggestion-error"); return; }
    clearError("suggestion-error");
    suggestions.busy = true;
    try {
      const saved = await api("POST", `/api/v1/suggested-spans/${id}/${decision}/`, body);
      const spans = suggestions.round.spans;
      spans[spans.findIndex((s) => s.id === id)] = saved;
      if (saved.status !== "rejected") suggestions.round.labels_added += 1;
      const next = openSpans()[0];
      suggestions.selected = next ? next.id : null;
      toast(saved.status === "rejected" ? `Suggestion #${saved.rank} rejected` : `Frames ${saved.start_frame}–${saved.end_frame} labelled “${saved.final_label}”`);
      renderSuggestions();
      if (next) suggestionLane.querySelector(`[data-suggestion-id="${next.id}"]`)?.focus({ preventScroll: true });
      if (saved.status !== "rejected") loadSpans();
    } catch (error) {
      report(error, "suggestion-error");
      loadRound();
    } finally {
      suggestions.busy = false;
    }
  }

  $("accept-suggestion").addEventListener("click", () => decide("accept"));
  $("correct-suggestion").addEventListener("click", () => decide("correct"));
  $("reject-suggestion").addEventListener("click", () => decide("reject"));

  async function closeRound(retrain) {
    if (!suggestions.round) return;
    clearError("suggestion-error");
    try {
      suggestions.round = await api("POST", `/api/v1/labelling-rounds/${suggestions.round.id}/close/`, { retrain });
      toast(retrain ? "Round closed: retraining…" : "Round closed");
      loadRound();
    } catch (error) {
      report(error, "suggestion-error");
    }
  }
  $("close-round").addEventListener("click", () => closeRound(false));
  $("close-retrain").addEventListener("click", () => closeRound(true));

  // =================================================================== extraction

  const extractForm = $("extract-form");
  const extractProgress = $("extract-progress");
  const extractStage = $("extract-stage");
  const extractSubmit = $("extract-submit");
  const featureList = $("feature-files");
  let trackedJob = null;
  let pollTimer = null;

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
    clearInterval(pollTimer);
    // the socket carries every change; polling covers a socket that was down when the job ended
    pollTimer = setInterval(async () => {
      try { jobUpdate(await api("GET", `/api/v1/jobs/${trackedJob.id}/`)); } catch (e) { /* the next poll retries */ }
    }, 5000);
  }

  function jobUpdate(job) {
    if (!trackedJob || job.id !== trackedJob.id) return;
    const wasTerminal = TERMINAL.has(trackedJob.status);
    Object.assign(trackedJob, job);
    showJob(trackedJob);
    if (TERMINAL.has(job.status) && !wasTerminal) {
      clearInterval(pollTimer);
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
      taskml.showErrors(extractForm, error);
    }
  });

  let featureFiles = [];
  async function loadFeatureFiles() {
    try {
      featureFiles = await all(`/api/v1/feature-files/?video=${videoPk}&ordering=-created_at`);
    } catch (error) {
      featureList.replaceChildren(el("li", { class: "error" }, `Could not load the feature files: ${error.message}`));
      return;
    }
    renderFeatureFiles();
    if (!trackedJob) {
      const active = featureFiles.find((f) => f.job && !TERMINAL.has(f.job.status));
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
  socket("/ws/jobs/", (message) => {
    if (message.stage !== "job") return;
    message = { ...message, stage: message.job_stage };  // the job's own stage, as the API gives it
    jobUpdate(message);
    const item = featureList.querySelector(`[data-job="${message.id}"]`);
    if (item) {
      const badge = item.querySelector(".badge");
      if (badge && !TERMINAL.has(message.status)) { badge.className = `badge ${message.status}`; badge.textContent = message.status; }
      const bar = item.querySelector("progress");
      if (bar) bar.value = message.progress || 0;
      if (TERMINAL.has(message.status) && !reloadTimer) {
        reloadTimer = setTimeout(() => { reloadTimer = null; loadFeatureFiles(); }, 300);
      }
    }
  });

  // =================================================================== label files in and out

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

  // =================================================================== start

  const fromHash = /(?:^#|&)frame=(\d+)/.exec(location.hash);
  if (fromHash) state.frame = clamp(Number(fromHash[1]), 0, lastFrame);
  if ("ResizeObserver" in window) new ResizeObserver(renderRuler).observe(timeline);
  else window.addEventListener("resize", renderRuler);
  renderRuler();
  renderAll();
  renderLane();
  frameChanged();
  loadClock();
  loadSpans();
  loadModels();
  loadFeatureFiles();
  loadSuggestionModels().then(loadRound);
})();
