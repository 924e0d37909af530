// Under each chart, as page text: what the result says (the server's findings: a verdict, an
// explanation) and, after a control moved, one line comparing the numbers that matter of the
// run on screen with the previous one's ("warmup 50: final loss 2.31 → 2.45").
// The box is a polite live region, changed once per result and never while a run streams.
//
//   CourseFindings.update(widget, result)   result: a .widget-result with a figure, just shown
window.CourseFindings = (function () {
  "use strict";

  const MAX_RUNS = 3; // runs named in the line; the data table has every number

  function summaryOf(result) {
    const json = result.querySelector("script.run-summary");
    return json ? JSON.parse(json.textContent) : null;
  }

  // "final loss 2.31 → 2.45, diverged no → at step 40" for one run; "" when nothing moved
  function runDelta(before, after) {
    const parts = [];
    for (const [name, value] of Object.entries(after)) {
      if (name === "run" || !(name in before) || before[name] === value) continue;
      parts.push(`${name} ${before[name]} → ${value}`);
    }
    return parts.join(", ");
  }

  function deltaLine(before, after) {
    const changed = [];
    for (let k = 0; k < Math.min(before.length, after.length); k += 1) {
      const delta = runDelta(before[k], after[k]);
      if (delta) changed.push(after.length > 1 ? `${after[k].run}: ${delta}` : delta);
    }
    if (!after.length) return "";
    if (!changed.length) return "Previous setting → this one: the same final numbers.";
    const more = changed.length > MAX_RUNS ? `; and ${changed.length - MAX_RUNS} more runs (see the data table)` : "";
    return "Previous setting → this one: " + changed.slice(0, MAX_RUNS).join("; ") + more + ".";
  }

  function update(widget, result) {
    const fresh = "_runSummary" in widget; // a result was shown before this one
    const summary = summaryOf(result);
    const previous = widget._runSummary;
    widget._runSummary = summary;
    const note = document.getElementById(widget.dataset.instance + "-caption-defaults");
    if (note && result.dataset.atDefaults) note.hidden = result.dataset.atDefaults === "true";
    const box = document.getElementById(widget.dataset.instance + "-findings");
    const incoming = result.querySelector(".result-findings");
    if (!box || !fresh) { // the page's first result: its findings may still be in the fragment
      if (incoming && box) box.replaceChildren(...incoming.childNodes);
      if (incoming) incoming.remove();
      return;
    }
    const nodes = incoming ? [...incoming.childNodes] : [];
    if (incoming) incoming.remove();
    const line = previous && summary ? deltaLine(previous, summary) : "";
    if (line) {
      const p = document.createElement("p");
      p.className = "run-delta";
      p.textContent = line;
      nodes.push(p);
    }
    box.replaceChildren(...nodes); // one change: read out once
  }

  return { update, deltaLine };
})();
