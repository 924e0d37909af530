// The quiz loop in the browser (templates/_quiz.html; the forms work without this file).
// 1. After htmx swaps a question (or /review's panel) in place, the focus moves to what
//    changed (the feedback, the hint just shown, the next review question), so a keyboard
//    user stays put and a screen reader reads it.
// 2. A committed prediction's explanation stays hidden until the real run beside it is drawn
//    (its chart gets data-final="1" from static/course.js), or until the run fails: the run
//    comes first, then the words about it.
(function () {
  "use strict";

  function runDrawn(area, instance) {
    const chart = document.getElementById(instance + "-chart");
    if (chart && chart.dataset.final === "1") return true;
    // a run that cannot be drawn (an error) must not hold the explanation back for ever
    return Boolean(area.querySelector(".widget-error, .stream-error:not([hidden])"));
  }

  function holdUntilRun(explanation) {
    const area = explanation.closest(".predict-area");
    const instance = explanation.dataset.afterRun;
    if (!area || !instance || runDrawn(area, instance)) return;
    explanation.hidden = true;
    const note = document.createElement("p");
    note.className = "predict-waiting";
    note.setAttribute("role", "status");
    note.textContent = "The explanation appears here once the run is drawn.";
    explanation.before(note);
    const observer = new MutationObserver(() => {
      if (!runDrawn(area, instance)) return;
      observer.disconnect();
      explanation.hidden = false;
      note.textContent = "The run is drawn: compare it with your prediction, then open the explanation.";
    });
    observer.observe(area, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-final", "hidden"] });
  }

  function within(root, selector) {
    const found = [...root.querySelectorAll(selector)];
    if (root.matches && root.matches(selector)) found.unshift(root);
    return found;
  }

  function onLoad(root) {
    for (const explanation of within(root, "details.predict-explanation[data-after-run]")) holdUntilRun(explanation);
    // a question swapped in by htmx (never the page itself loading): focus what changed
    if (root.matches && root.matches(".quiz, .review-panel")) {
      const target = root.querySelector("[data-quiz-focus]");
      if (target) target.focus();
    }
  }

  if (window.htmx) window.htmx.onLoad(onLoad);
  else window.addEventListener("DOMContentLoaded", () => onLoad(document.body));
})();
