/* /videos/<id>/: a frame-accurate player made of frame JPEGs, a timeline labeller saving every
   edit through /api/v1/label-spans/, a lane of a model's predictions (a live session over the
   video, realtime false), a lane of a labelling round's suggestions, feature extraction followed
   live over ws/jobs/, and label files in and out. One module per section:

     context.js      the video, the page's state, errors, the frame clock
     player.js       frames, prefetching, playback
     timeline.js     ruler, spans (select, resize, edit, delete), marks, playhead
     labels.js       the label list and the current label
     keyboard.js     the shortcuts
     predictions.js  the predictions lane
     suggestions.js  the suggestions lane (active learning)
     extraction.js   feature extraction and the video's feature files
     interchange.js  label files in and out

   This module starts the page once every section has set itself up. */
import { api, clamp, frames, lastFrame, report, setClock, state, videoPk } from "./context.js";
import { loadFeatureFiles } from "./extraction.js";
import "./interchange.js";
import "./keyboard.js";
import { frameChanged } from "./player.js";
import { loadModels, renderLane } from "./predictions.js";
import { loadRound, loadSuggestionModels } from "./suggestions.js";
import { loadSpans, renderAll, renderRuler, timeline } from "./timeline.js";

/** The video's frame clock (GET …/clock/): every frame's own time from the container. */
async function loadClock() {
  try {
    const clock = await api("GET", `/api/v1/videos/${videoPk}/clock/`);
    if (Array.isArray(clock.timestamps) && clock.timestamps.length === frames) {
      setClock(clock.timestamps, clock.duration);
      renderRuler();
      renderAll();
      renderLane();
      frameChanged();
    }
  } catch (error) {
    report(error);
  }
}

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
