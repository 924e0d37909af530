// The widgets on a page: controls, runs and results.
// - controls: show each slider's value, convert log sliders, keep state in the URL
// - runs: a moved control opens the widget's stream (static/stream.js) at once, so a move is
//   one request whether the setting is cached (one `result` event) or trains
// - results: the chart (static/charts.js), the findings and the before/after line under it,
//   and the pinned runs drawn beside it (static/pins.js)
(function () {
  "use strict";

  const streams = new Map(); // widget instance -> AbortController of its current run

  // ---------- controls ------------------------------------------------------------
  function formatNumber(x) {
    if (!isFinite(x)) return String(x);
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2).replace(/\.?0+e/, "e");
    return String(Number(x.toPrecision(3)));
  }
  window.CourseControls = { formatNumber }; // the one number format of the controls, for static/pins.js

  function syncControl(input) {
    const out = document.getElementById(input.id + "-out");
    let shown;
    if (input.dataset.logFor) {
      const value = Math.pow(10, Number(input.value));
      const hidden = document.getElementById(input.dataset.logFor);
      hidden.value = Number(value.toPrecision(3));
      shown = formatNumber(Number(hidden.value));
    } else if (input.dataset.boolFor) {
      document.getElementById(input.dataset.boolFor).value = input.checked ? "true" : "false";
      return;
    } else if (input.type === "range" || input.type === "number") {
      shown = formatNumber(Number(input.value));
    }
    if (shown !== undefined) {
      if (out) out.textContent = shown;
      const unit = input.closest(".control").querySelector(".control-unit");
      input.setAttribute("aria-valuetext", shown + (unit ? unit.textContent : ""));
    }
  }

  function formState(form) {
    const state = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (key !== "instance") state.set(key, value);
    return state;
  }

  function pageUrlWith(widget) {
    const form = widget.querySelector(".widget-form");
    const instance = widget.dataset.instance;
    const url = new URL(window.location.href);
    const pins = instance + ".pins"; // the widget's pinned runs (static/pins.js), not a control
    for (const key of [...url.searchParams.keys()]) if (key.startsWith(instance + ".") && key !== pins) url.searchParams.delete(key);
    // only what fits: a long pasted text would make a URL the server cannot take (the form
    // posts it instead), so the link keeps the other settings and leaves the text out
    const max = Number(form.dataset.urlTextMax || 1000);
    for (const [key, value] of formState(form)) if (value.length <= max) url.searchParams.set(instance + "." + key, value);
    url.hash = instance;
    return url;
  }

  function rememberState(widget) {
    const url = pageUrlWith(widget);
    history.replaceState(null, "", url.pathname + url.search + window.location.hash);
    const link = widget.querySelector("[data-permalink]");
    if (link) link.href = url.pathname + url.search + url.hash;
  }

  function resetWidget(widget) {
    for (const input of widget.querySelectorAll("[data-default]")) {
      if (input.dataset.boolFor) input.checked = input.dataset.default === "true";
      else if (input.dataset.logFor) input.value = Math.log10(Number(input.dataset.default));
      else input.value = input.dataset.default;
      syncControl(input);
    }
    rememberState(widget);
    const form = widget.querySelector(".widget-form");
    if (form.dataset.stream) requestRun(form, 0);
    else htmx.trigger(form, "change");
  }

  // A control moved: after a pause (typing, dragging) ask for the setting once.
  function onControl(event, delay) {
    const widget = event.target.closest(".widget");
    if (!widget) return;
    syncControl(event.target);
    rememberState(widget);
    const form = event.target.closest(".widget-form");
    if (form && form.dataset.stream) requestRun(form, delay);
  }
  document.addEventListener("input", (event) => onControl(event, 300), true);
  document.addEventListener("change", (event) => onControl(event, 50), true);
  document.addEventListener("click", (event) => {
    const reset = event.target.closest("[data-reset]");
    if (reset) resetWidget(reset.closest(".widget"));
  });
  // without JavaScript the form submits to GET /widgets/{name}; with it, the stream answers
  document.addEventListener("submit", (event) => {
    const form = event.target.closest(".widget-form");
    if (form && form.dataset.stream) { event.preventDefault(); requestRun(form, 0, true); }
  });

  // ---------- runs --------------------------------------------------------------------
  // One request per setting: `wanted` is the setting on screen or on its way; a move back to
  // it asks for nothing, and a newer setting aborts the older stream (the server then stops
  // that run, unless someone else follows it).
  // While a move waits for its result the form carries data-pending (tests wait on it).
  function requestRun(form, delay, force) {
    clearTimeout(form._runTimer);
    form.dataset.pending = "1";
    form._runTimer = setTimeout(() => {
      form._runTimer = null;
      const query = formState(form).toString();
      if (!force && query === form.dataset.wanted) { // on screen, or on its way
        if (!streams.has(form.closest(".widget").dataset.instance)) delete form.dataset.pending;
        return;
      }
      form.dataset.wanted = query;
      const widget = form.closest(".widget");
      const url = form.dataset.stream + "?" + query + "&instance=" + encodeURIComponent(widget.dataset.instance);
      follow(widget, url, true);
    }, delay);
  }

  function settled(widget) {
    const form = widget.querySelector(".widget-form");
    if (form && !form._runTimer) delete form.dataset.pending; // unless a newer move waits to be sent
  }

  function resultOf(widget) { return widget.querySelector(".widget-result"); }
  function chartOf(widget) { return document.getElementById(widget.dataset.instance + "-chart"); }

  function say(widget, text) {
    const box = resultOf(widget) && resultOf(widget).querySelector(".stream-error");
    if (box) { box.textContent = text; box.hidden = !text; }
  }

  function follow(widget, url, moved) {
    const instance = widget.dataset.instance;
    if (streams.has(instance)) streams.get(instance).abort();
    const controller = new AbortController();
    streams.set(instance, controller);
    const current = () => streams.get(instance) === controller;
    const chart = chartOf(widget);
    if (moved && chart) CourseCharts.begin(chart);
    const clock = { first: null }; // the first progress event: the pace is measured from it
    const onEvent = (kind, msg) => {
      if (!current()) return;
      if (kind === "nearest") {
        if (chart && CourseCharts.nearest(chart, msg.figure)) setProgress(widget, 0, 1, msg.label + "…");
      } else if (kind === "queued") {
        setProgress(widget, 0, 1, msg.pending > 1 ? `queued behind ${msg.pending - 1} other run(s)…` : "Waiting for a worker…");
      } else if (kind === "progress") {
        if (chart) CourseCharts.progress(chart, msg);
        setProgress(widget, msg.done, msg.total, progressText(clock, msg.done, msg.total));
      } else if (kind === "result") {
        streams.delete(instance);
        swapResult(widget, msg.html);
      } else if (kind === "failed" || kind === "cancelled") {
        streams.delete(instance);
        settled(widget);
        if (kind === "failed") say(widget, msg.message);
      }
    };
    say(widget, "");
    CourseStream.read(url, { signal: controller.signal, onEvent }).then((outcome) => {
      if (!current()) return;
      streams.delete(instance);
      if (outcome.busy) {
        say(widget, `The server is busy, queued: trying again in ${outcome.busy} s.`);
        const form = widget.querySelector(".widget-form");
        setTimeout(() => { if (widget.isConnected && !streams.has(instance)) requestRun(form, 0, true); }, outcome.busy * 1000);
      } else if (outcome.refused) {
        settled(widget);
        say(widget, outcome.message);
        hideProgress(widget);
      }
    }, () => {
      if (controller.signal.aborted || !current()) return; // a newer setting took over
      streams.delete(instance);
      settled(widget);
      say(widget, "The connection to the training run was lost. Move a control to try again.");
    });
  }

  // "step 120 of 300", and on a long run an estimate of the time left from its pace so far
  function progressText(clock, done, total) {
    const now = performance.now();
    if (clock.first === null) clock.first = { at: now, done };
    const text = `step ${done} of ${total}`;
    const seconds = (now - clock.first.at) / 1000;
    const pace = (done - clock.first.done) / seconds;
    if (!(seconds > 1.5 && pace > 0)) return text;
    const left = (total - done) / pace;
    if (seconds + left < 8) return text;
    return text + " · about " + (left < 90 ? Math.max(1, Math.round(left / 5) * 5) + " s" : Math.round(left / 60) + " min") + " left";
  }

  function setProgress(widget, done, total, text) {
    const box = resultOf(widget) && resultOf(widget).querySelector(".run-progress");
    if (!box) return;
    box.hidden = false;
    const pct = total ? Math.round((100 * done) / total) : 0;
    box.querySelector("progress").value = pct;
    box.querySelector("progress").textContent = pct + "%";
    box.querySelector(".run-progress-text").textContent = text;
  }

  function hideProgress(widget) {
    const box = resultOf(widget) && resultOf(widget).querySelector(".run-progress");
    if (box) box.hidden = true;
  }

  function swapResult(widget, html) {
    const old = resultOf(widget);
    if (!old) return;
    const holder = document.createElement("div");
    holder.innerHTML = html;
    const fresh = holder.firstElementChild;
    old.replaceWith(fresh);
    activate(fresh);
  }

  // ---------- results -----------------------------------------------------------------
  function activateResult(result) {
    const widget = result.closest(".widget");
    const chart = document.getElementById(result.dataset.instance + "-chart");
    const json = result.querySelector("script.figure-json");
    if (json) {
      if (widget && !streams.has(result.dataset.instance)) settled(widget);
      if (chart) CourseCharts.show(chart, JSON.parse(json.textContent));
      if (widget) CourseFindings.update(widget, result);
      if (widget) CoursePins.shown(widget, result);
    } else if (result.dataset.streamUrl && widget) {
      follow(widget, result.dataset.streamUrl, false);
    } else if (result.dataset.retryAfter && widget) {
      const form = widget.querySelector(".widget-form");
      setTimeout(() => { if (result.isConnected) requestRun(form, 0, true); }, Number(result.dataset.retryAfter) * 1000);
    }
  }

  function within(root, selector) {
    const found = [...root.querySelectorAll(selector)];
    if (root.matches && root.matches(selector)) found.unshift(root);
    return found;
  }

  function activate(root) {
    if (!root.querySelectorAll) return;
    for (const result of within(root, ".widget-result")) activateResult(result);
    for (const widget of within(root, ".widget")) {
      const form = widget.querySelector(".widget-form");
      if (form && form.dataset.wanted === undefined) form.dataset.wanted = formState(form).toString();
      CoursePins.setup(widget);
      const link = widget.querySelector("[data-permalink]");
      if (link) { const url = pageUrlWith(widget); link.href = url.pathname + url.search + url.hash; }
    }
  }

  // Widgets whose form posts long text (the config reader) still go through htmx: a
  // response that arrives after the controls have moved on is not swapped in.
  function setupHtmx() {
    // a 422 carries a readable message about the bad value: show it instead of ignoring it
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true, error: false },
      { code: "503", swap: true, error: false }, // busy, queued: the fragment says so and retries
      { code: "[45]..", swap: false, error: true },
    ];
    const postingForm = (elt) => (elt && elt.classList && elt.classList.contains("widget-form") ? elt : null);
    document.addEventListener("htmx:beforeRequest", (event) => {
      const form = postingForm(event.detail.elt);
      if (form) form.dataset.sentQuery = formState(form).toString();
    });
    document.addEventListener("htmx:beforeSwap", (event) => {
      const form = postingForm(event.detail.elt);
      if (form && form.dataset.sentQuery !== formState(form).toString()) event.detail.shouldSwap = false;
    });
    htmx.onLoad(activate); // every element htmx adds (and the whole body at start)
    document.addEventListener("htmx:responseError", (event) => {
      const widget = event.detail.elt.closest && event.detail.elt.closest(".widget");
      if (widget) say(widget, "The server answered " + event.detail.xhr.status + ". Try again.");
    });
  }

  function setupNav() {
    const toggle = document.querySelector(".nav-toggle");
    const sidebar = document.getElementById("sidebar");
    if (!toggle || !sidebar) return;
    toggle.addEventListener("click", () => {
      const open = sidebar.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }

  if (window.htmx) setupHtmx();
  window.addEventListener("DOMContentLoaded", () => {
    setupNav();
    if (document.querySelector(".widget-chart")) CourseCharts.ready().catch(() => {});
    if (!window.htmx) activate(document);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", CourseCharts.retheme);
  });
})();
