// The coding exercises' editor. With the set-up's bundle (/vendor/editor.js, CodeMirror 6)
// each textarea becomes a CodeMirror editor that keeps the textarea's value in step. Without
// it (the bundle not built), the fallback: a textarea that indents like a code editor, over a
// <pre> that shows the same text with Python highlighted (tokens built as DOM text, never HTML).
// Keyboard, both: Tab indents, Shift+Tab dedents; Esc, then Tab, leaves the editor.
(function () {
  "use strict";
  const INDENT = "    ";
  const KEYWORDS = new Set(("False None True and as assert async await break class continue def del elif else " +
    "except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield").split(" "));
  const BUILTINS = new Set("abs all any bool dict enumerate float int isinstance len list max min print range reversed self set sorted str sum super tuple type zip".split(" "));
  const TOKEN = /(#[^\n]*)|("""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?)|(\b\d[\d_]*(?:\.\d*)?(?:e[+-]?\d+)?\b)|(@[A-Za-z_][\w.]*)|([A-Za-z_]\w*)/g;

  function highlight(pre, text) {
    const out = document.createDocumentFragment();
    let last = 0;
    for (const m of text.matchAll(TOKEN)) {
      if (m.index > last) out.append(text.slice(last, m.index));
      let cls = m[1] ? "tok-comment" : m[2] ? "tok-string" : m[3] ? "tok-number" : m[4] ? "tok-decorator" : "";
      if (m[5]) cls = KEYWORDS.has(m[5]) ? "tok-keyword" : BUILTINS.has(m[5]) ? "tok-builtin" : "";
      if (cls) {
        const span = document.createElement("span");
        span.className = cls;
        span.textContent = m[0];
        out.append(span);
      } else {
        out.append(m[0]);
      }
      last = m.index + m[0].length;
    }
    out.append(text.slice(last) + "\n"); // a trailing newline keeps the last line's height
    pre.replaceChildren(out);
  }

  function sync(textarea) {
    const pre = textarea.parentElement.querySelector(".code-highlight");
    if (!pre) return;
    highlight(pre, textarea.value);
    pre.scrollTop = textarea.scrollTop;
    pre.scrollLeft = textarea.scrollLeft;
  }

  function replaceSelection(textarea, start, end, text, selStart, selEnd) {
    textarea.setRangeText(text, start, end, "end");
    if (selStart !== undefined) textarea.setSelectionRange(selStart, selEnd);
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function lineStart(value, index) {
    return value.lastIndexOf("\n", index - 1) + 1;
  }

  function onKey(event) {
    const t = event.target;
    if (!t.classList || !t.classList.contains("code-input")) return;
    if (event.key === "Escape") { t.dataset.tabLeaves = "1"; return; }
    if (event.key === "Tab" && t.dataset.tabLeaves) { delete t.dataset.tabLeaves; return; } // leave the editor
    delete t.dataset.tabLeaves;
    const { selectionStart: s, selectionEnd: e, value } = t;
    if (event.key === "Tab") {
      event.preventDefault();
      const from = lineStart(value, s);
      if (!event.shiftKey && s === e) { replaceSelection(t, s, e, INDENT); return; }
      const block = value.slice(from, e);
      const changed = event.shiftKey
        ? block.replace(/^( {1,4}|\t)/gm, "")
        : block.replace(/^/gm, INDENT);
      replaceSelection(t, from, e, changed, from, from + changed.length);
    } else if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.metaKey) {
      const from = lineStart(value, s);
      const line = value.slice(from, s);
      const indent = (line.match(/^\s*/) || [""])[0] + (/:\s*$/.test(line) ? INDENT : "");
      if (!indent) return;
      event.preventDefault();
      replaceSelection(t, s, e, "\n" + indent);
    }
  }

  function activate(root) {
    const scope = root.querySelectorAll ? root : document;
    for (const textarea of scope.querySelectorAll("textarea.code-input")) {
      if (textarea.dataset.editor) continue;
      if (window.CourseEditor) { // CodeMirror 6, bundled at set-up (static/editor/editor-entry.js)
        textarea.dataset.editor = "codemirror";
        textarea.parentElement.classList.add("has-codemirror");
        window.CourseEditor.attach(textarea);
        continue;
      }
      textarea.dataset.editor = "textarea"; // the fallback: indentation keys and the highlighter
      textarea.parentElement.classList.add("is-enhanced");
      sync(textarea);
    }
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("input", (event) => {
    if (event.target.classList && event.target.classList.contains("code-input")) sync(event.target);
  });
  document.addEventListener("scroll", (event) => {
    if (event.target.classList && event.target.classList.contains("code-input")) sync(event.target);
  }, true);
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("[data-reset-code]");
    if (!button) return;
    const textarea = document.getElementById(button.dataset.resetCode);
    const starter = textarea && document.getElementById(textarea.dataset.starterId);
    if (!starter) return;
    if (textarea.courseEditor) {
      textarea.courseEditor.set(starter.content.textContent);
      textarea.courseEditor.focus();
      return;
    }
    textarea.value = starter.content.textContent;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    textarea.focus();
  });
  // Hints come in two tiers (nested <details>, which work without this script); each tier the
  // learner opens is recorded with their progress, once per page. "toggle" does not bubble:
  // listen in the capture phase.
  document.addEventListener("toggle", (event) => {
    const tier = event.target;
    if (!(tier instanceof HTMLDetailsElement) || !tier.open || !tier.dataset.hintUrl || tier.dataset.hintSent) return;
    tier.dataset.hintSent = "1";
    fetch(tier.dataset.hintUrl, {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ level: Number(tier.dataset.hintLevel) }),
    }).then((response) => (response.ok ? response.json() : null))
      .then((body) => { if (body) tier.dataset.hintRecorded = String(body.hint_level); })
      .catch(() => { delete tier.dataset.hintSent; }); // offline: try again on the next opening
  }, true);
  window.addEventListener("DOMContentLoaded", () => activate(document));
})();

// "Train with your code": follow the stream, draw both loss curves as the steps come (and,
// for a config, both learning rates on a second axis). A loss that is not finite arrives as
// null (JSON has no NaN): the curve stops there and a marker says the run diverged.
(function () {
  "use strict";
  function start() {
    const chart = document.querySelector(".train-chart[data-stream-url]");
    if (!chart || !window.Plotly) return;
    const status = document.getElementById("train-status");
    const yours = [], theirs = [], lrYours = [], lrTheirs = [];
    const theirName = chart.dataset.referenceName || "PyTorch's";
    const yourName = chart.dataset.yoursName || "yours";
    const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    const layout = {
      margin: { t: 20, r: 10, b: 45, l: 55 }, height: 360,
      xaxis: { title: { text: "step" } }, yaxis: { title: { text: "training loss" } },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: dark ? "#ddd" : "#222" }, legend: { orientation: "h", y: 1.08 },
    };
    function divergedAt() {
      const step = yours.findIndex((v) => v === null);
      return step < 0 ? null : step;
    }
    function lastFinite(values, before) {
      for (let i = before - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i];
      return null;
    }
    function draw() {
      const steps = yours.map((_, i) => i);
      const traces = [
        { x: steps, y: theirs, name: theirName, mode: "lines", line: { width: 4, color: "#94a3b8" } },
        { x: steps, y: yours, name: yourName, mode: "lines", line: { width: 2, color: "#2563eb", dash: "dot" } },
      ];
      const diverged = divergedAt();
      if (diverged !== null) {
        const y = lastFinite(yours, diverged);
        traces.push({ x: [diverged], y: [y === null ? lastFinite(theirs, diverged + 1) : y], name: yourName + " diverged (NaN or inf)",
          mode: "markers+text", text: ["diverged"], textposition: "top center",
          marker: { symbol: "x", size: 14, color: "#dc2626" }, textfont: { color: "#dc2626" } });
      }
      if (lrYours.length) {
        layout.yaxis2 = { title: { text: "learning rate" }, overlaying: "y", side: "right", showgrid: false,
          exponentformat: "e" };
        layout.margin.r = 60;
        traces.push({ x: steps, y: lrTheirs, name: "LR, " + theirName, yaxis: "y2", mode: "lines",
          line: { width: 1, color: "#94a3b8", dash: "dash" } });
        traces.push({ x: steps, y: lrYours, name: "LR, " + yourName, yaxis: "y2", mode: "lines",
          line: { width: 1, color: "#2563eb", dash: "dash" } });
      }
      window.Plotly.react(chart, traces, layout, { displaylogo: false, responsive: true });
      chart.dataset.divergedAt = diverged === null ? "none" : String(diverged);
    }
    function put(target, at, values) {
      if (values) target.splice(at, values.length, ...values);
    }
    function number(value) {
      return value === null || value === undefined ? "NaN (diverged)" : value.toFixed(4);
    }
    const source = new EventSource(chart.dataset.streamUrl);
    source.addEventListener("queued", () => { status.textContent = "Queued for a worker…"; });
    source.addEventListener("progress", (event) => {
      const msg = JSON.parse(event.data);
      put(yours, msg.start, msg.yours);
      put(theirs, msg.start, msg.torch);
      put(lrYours, msg.start, msg.lr_yours);
      put(lrTheirs, msg.start, msg.lr_torch);
      status.textContent = "Training: step " + msg.done + (msg.total ? " of " + msg.total : "");
      draw();
    });
    source.addEventListener("result", (event) => {
      source.close();
      const msg = JSON.parse(event.data);
      chart.dataset.done = "true";
      let text = msg.parted_at === null
        ? "The curves coincide: after " + msg.steps + " steps your loss is " + number(msg.final[0]) +
          ", " + theirName + " " + number(msg.final[1]) + "."
        : "The curves part at step " + msg.parted_at + ": your loss ends at " + number(msg.final[0]) +
          ", " + theirName + " at " + number(msg.final[1]) + ".";
      if (msg.diverged_at !== null && msg.diverged_at !== undefined) {
        text += " Your run diverged at step " + msg.diverged_at + ": its loss became NaN or inf.";
      }
      if (msg.error) text += " Then: " + msg.error;
      status.textContent = text + " (" + msg.wall_time_s.toFixed(1) + " s in the sandbox)";
      chart.dataset.partedAt = msg.parted_at === null ? "none" : String(msg.parted_at);
    });
    source.addEventListener("failed", (event) => {
      source.close();
      chart.dataset.done = "failed";
      status.textContent = "The run failed: " + JSON.parse(event.data).detail;
    });
    source.onerror = () => { if (!chart.dataset.done) { source.close(); status.textContent = "The stream was interrupted; reload to try again."; } };
  }
  window.addEventListener("DOMContentLoaded", start);
})();
