/* The keyboard: Space, ←/→ (Shift: a second), Home/End, [ ], Enter, Delete, Esc, 1–9 and A/C/R,
   except while typing in a field or on a control reached with the keyboard. */
import { frames, secondStep, state } from "./context.js";
import { setCurrentLabel } from "./labels.js";
import { step, togglePlay } from "./player.js";
import { decide, deselectSuggestion, suggestionSelected } from "./suggestions.js";
import { createSpan, deleteSpan, markEnd, markStart, renderMarks, select } from "./timeline.js";

// A control focused by a click keeps no claim on Space and Enter (they go to the labeller);
// one reached with the keyboard does. (:focus-visible cannot tell: a key press makes it match.)
const CONTROLS = "button, a[href], summary, [role='button']";
let clickedControl = null;

/** Whether node is the control last clicked with a pointer (it keeps no claim on Space and Enter). */
export function isClickedControl(node) { return node === clickedControl; }
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
    deselectSuggestion();
  } else if (/^[acr]$/i.test(key) && !event.shiftKey && suggestionSelected()) {
    event.preventDefault();
    decide({ a: "accept", c: "correct", r: "reject" }[key.toLowerCase()]);
  } else if (/^[1-9]$/.test(key) && !event.shiftKey) {
    const name = state.labels[Number(key) - 1];
    if (name) { event.preventDefault(); setCurrentLabel(name); }
  }
});
