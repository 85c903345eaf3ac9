/* The player: frames as JPEGs from /api/v1/videos/<id>/frames/<n>/, prefetched ahead of the
   playhead, played in time with the video's frame clock. */
import { $, clamp, fps, frameAtTime, frames, frameWidth, lastFrame, root, seconds, secondStep, state, videoPk } from "./context.js";
import { showPlayhead } from "./timeline.js";

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

/** Show the current frame: the counter, the timeline's playhead and marks, the image. */
export function frameChanged() {
  counter.textContent = `frame ${state.frame} / ${frames}, ${seconds(state.frame).toFixed(2)} s`;
  showPlayhead();
  show();
  pump();
}

export function seek(frame) {
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

export function setPlaying(playing) {
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
export function togglePlay() { setPlaying(!state.playing); }

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
/** Move by delta frames (pausing playback). */
export function step(delta) { if (state.playing) setPlaying(false); seek(state.frame + delta); }
$("prev-frame").addEventListener("click", () => step(-1));
$("next-frame").addEventListener("click", () => step(1));
$("prev-second").addEventListener("click", () => step(secondStep(-1)));
$("next-second").addEventListener("click", () => step(secondStep(1)));
speedSelect.addEventListener("change", () => { if (state.playing) clock = { t0: performance.now(), f0: state.frame }; });
