/* The labeller's shared ground: the video, the page's state, error reporting and the frame clock.
   Every other module of /videos/<id>/ imports what it needs from here. */

export const { api, all, socket, toast, el, colour, fmt, showErrors, isTerminal, followJobs } = taskml;
export const $ = (id) => document.getElementById(id);
export const clamp = (n, lo, hi) => Math.min(hi, Math.max(lo, n));

export const root = $("labeller");
export const videoPk = Number(root.dataset.video);
export const fps = Number(root.dataset.fps) > 0 ? Number(root.dataset.fps) : 25;
export const frames = Math.max(1, Number(root.dataset.frames) || 1);
export const lastFrame = frames - 1;
// one width for every request, so prefetched frames and the browser's HTTP cache are reused
export const frameWidth = clamp(Number(root.dataset.width) || 960, 64, 960);

export const state = {
  frame: 0,
  playing: false,
  spans: new Map(), // id -> span as the server answered
  selected: null, // span id
  labels: [], // known label names, in the order they became known (their colours follow it)
  label: null, // the current label
  markStart: null,
  markEnd: null,
};

export function report(error, target) {
  const message = error instanceof Error ? error.message : String(error);
  const box = target ? $(target) : null;
  if (box) box.textContent = message;
  toast(message, true);
}
export function clearError(target) { $(target).textContent = ""; }

// ------------------------------------------------------------------ the frame clock
// Every frame's own time from the container (GET …/clock/), never frame / fps. Until it has
// loaded (and for a video without one) the nominal rate stands in.
let times = null;
export let duration = Number(root.dataset.duration) > 0 ? Number(root.dataset.duration) : frames / fps;

/** Use the video's clock: one timestamp per frame, and the end of the last frame. */
export function setClock(timestamps, end) {
  times = timestamps;
  duration = end;
}

/** Seconds at which a frame starts; frame `frames` is the end of the video. */
export function seconds(frame) {
  if (!times) return frame / fps;
  return frame >= frames ? duration : times[clamp(frame, 0, lastFrame)];
}

/** The frame shown at a time (binary search over the clock). */
export function frameAtTime(t) {
  if (!times) return clamp(Math.floor(t * fps + 1e-6), 0, lastFrame);
  let lo = 0, hi = lastFrame;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= t + 1e-6) lo = mid; else hi = mid - 1;
  }
  return lo;
}

/** The frame boundary (0..frames) nearest a time: where a span edge given in seconds lands. */
export function boundaryAtTime(t) {
  if (t >= duration) return frames;
  const f = frameAtTime(t);
  const next = seconds(f + 1);
  return next - t < t - seconds(f) ? f + 1 : f;
}

/** Frames to move for one second from the current frame: to the frame starting nearest to one
    second away (at least one frame). */
export function secondStep(direction) {
  const target = clamp(boundaryAtTime(seconds(state.frame) + direction), 0, lastFrame);
  return direction > 0 ? Math.max(1, target - state.frame) : Math.min(-1, target - state.frame);
}
