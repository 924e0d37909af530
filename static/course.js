// Glue between htmx, the server's widget results and Plotly.
// - controls: show each slider's value, convert log sliders, keep state in the URL
// - results: draw a finished figure with Plotly.react, or follow a training stream
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
    for (const key of [...url.searchParams.keys()]) if (key.startsWith(instance + ".")) url.searchParams.delete(key);
    for (const [key, value] of formState(form)) url.searchParams.set(instance + "." + key, value);
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
    htmx.trigger(widget.querySelector(".widget-form"), "change");
  }

  document.addEventListener("input", (event) => {
    const widget = event.target.closest(".widget");
    if (!widget) return;
    syncControl(event.target);
    rememberState(widget);
  }, true);
  document.addEventListener("change", (event) => {
    const widget = event.target.closest(".widget");
    if (!widget) return;
    syncControl(event.target);
    rememberState(widget);
  }, true);
  document.addEventListener("click", (event) => {
    const reset = event.target.closest("[data-reset]");
    if (reset) resetWidget(reset.closest(".widget"));
  });

  // One request per setting, and only the newest setting's result on screen. A keyboard
  // step fires both `input` and `change`, and both trigger the form; the form queues a
  // newer request behind the one in flight (hx-sync "queue last") instead of aborting it,
  // which htmx would log as an error. So: a setting already in flight, or already shown,
  // is not asked for again; and a response that arrives after the controls have moved on
  // is not swapped in, because the request for the newer setting is right behind it.
  function widgetForm(elt) {
    return elt && elt.classList && elt.classList.contains("widget-form") ? elt : null;
  }
  document.addEventListener("htmx:confirm", (event) => {
    const form = widgetForm(event.detail.elt);
    if (!form) return;
    const query = formState(form).toString();
    const inFlight = form.dataset.sentQuery;
    if (query === inFlight || (inFlight === undefined && query === form.dataset.shownQuery)) event.preventDefault();
  });
  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = widgetForm(event.detail.elt);
    if (form) form.dataset.sentQuery = formState(form).toString();
  });
  document.addEventListener("htmx:beforeSwap", (event) => {
    const form = widgetForm(event.detail.elt);
    if (!form) return;
    if (form.dataset.sentQuery !== formState(form).toString()) event.detail.shouldSwap = false;
    else form.dataset.shownQuery = form.dataset.sentQuery;
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const form = widgetForm(event.detail.elt);
    if (form) delete form.dataset.sentQuery;
  });

  // ---------- charts ----------------------------------------------------------------
  function themed(layout) {
    const style = getComputedStyle(document.documentElement);
    const fg = style.getPropertyValue("--fg").trim() || "#111";
    const grid = style.getPropertyValue("--grid").trim() || "#ddd";
    const out = Object.assign({}, layout, {
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: fg, family: "system-ui, sans-serif", size: 12 },
      autosize: true,
    });
    for (const key of Object.keys(out)) {
      if (/^[xy]axis\d*$/.test(key)) out[key] = Object.assign({ gridcolor: grid, zerolinecolor: grid }, out[key]);
    }
    if (window.matchMedia("(max-width: 640px)").matches) narrowed(out);
    return out;
  }

  // A phone: smaller type, so legends, panel titles and notes keep to their own lines
  // instead of running into each other across a 350-pixel-wide chart.
  function narrowed(layout) {
    if (layout.height) layout.height = Math.round(layout.height * 0.85);
    layout.font.size = 10;
    if (layout.legend) layout.legend = Object.assign({}, layout.legend, { font: { size: 10 } });
    if (layout.margin) layout.margin = Object.assign({}, layout.margin, { l: Math.min(layout.margin.l || 52, 52) });
    if (layout.annotations) {
      layout.annotations = layout.annotations.map((note) => Object.assign({}, note, { font: Object.assign({ size: 10 }, note.font || {}) }));
    }
  }

  const config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  function draw(instance, figure, final) {
    const chart = document.getElementById(instance + "-chart");
    if (!chart || !window.Plotly) return;
    let traces = figure.data;
    const ghostWanted = figure.layout && figure.layout.meta && figure.layout.meta.ghost;
    if (ghostWanted && chart._lastFinal && final) {
      const ghosts = chart._lastFinal.map((t) => Object.assign({}, t, {
        name: t.name + " (previous)", showlegend: false, hoverinfo: "skip", opacity: 0.3,
        line: Object.assign({}, t.line || {}, { dash: "dot" }),
      }));
      traces = ghosts.concat(traces);
    }
    if (final) chart._lastFinal = figure.data;
    Plotly.react(chart, traces, themed(figure.layout), config);
    chart.dataset.drawn = String(Number(chart.dataset.drawn || 0) + 1);
    if (final) chart.dataset.final = "1";
    else { delete chart.dataset.final; chart.dataset.partial = String(Number(chart.dataset.partial || 0) + 1); }
  }

  function setProgress(result, done, total, text) {
    const box = result.querySelector(".run-progress");
    if (!box) return;
    box.hidden = false;
    const bar = box.querySelector("progress");
    const pct = total ? Math.round((100 * done) / total) : 0;
    bar.value = pct;
    bar.textContent = pct + "%";
    box.querySelector(".run-progress-text").textContent = text || `step ${done} of ${total}`;
  }

  // ---------- streams ---------------------------------------------------------------
  // A run streams as Server-Sent Events, read with fetch (so a full queue's 503 and its
  // Retry-After are visible, and closing is an abort). The first progress event carries a
  // whole figure; later ones only the new points, appended with Plotly.extendTraces. The
  // last event carries the finished result fragment, swapped in as it is: no third request.
  function applyDelta(instance, msg) {
    const chart = document.getElementById(instance + "-chart");
    if (!chart || !window.Plotly) return;
    if (msg.figure) { draw(instance, msg.figure, false); return; }
    if (!chart.data) return; // a delta before any figure (joined late): wait for the result
    if (msg.replace) {
      const traces = chart.data.slice();
      for (const change of msg.replace) traces[change.trace] = change.data;
      Plotly.react(chart, traces, chart.layout, config);
    }
    for (const change of msg.extend || []) {
      const update = {};
      for (const [attr, tail] of Object.entries(change.data)) update[attr] = [tail];
      Plotly.extendTraces(chart, update, [change.trace]);
    }
    if (msg.layout) Plotly.relayout(chart, themed(msg.layout));
    delete chart.dataset.final;
    chart.dataset.partial = String(Number(chart.dataset.partial || 0) + 1);
  }

  function showBusy(result, seconds) {
    const box = result.querySelector(".stream-error");
    if (box) { box.textContent = `The server is busy, queued: trying again in ${seconds} s.`; box.hidden = false; }
  }

  function parseEvents(buffer, onEvent) {
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let kind = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) kind = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length) onEvent(kind, JSON.parse(data.join("\n")));
    }
    return buffer;
  }

  async function follow(result) {
    const instance = result.dataset.instance;
    const previous = streams.get(instance);
    if (previous) previous.abort();
    const controller = new AbortController();
    streams.set(instance, controller);
    const done = () => { if (streams.get(instance) === controller) streams.delete(instance); };
    const onEvent = (kind, msg) => {
      if (kind === "queued") {
        if (msg.pending > 1) setProgress(result, 0, 1, `queued behind ${msg.pending - 1} other run(s)…`);
      } else if (kind === "progress") {
        applyDelta(instance, msg);
        setProgress(result, msg.done, msg.total);
      } else if (kind === "result") {
        done();
        if (document.body.contains(result)) htmx.swap(result, msg.html, { swapStyle: "outerHTML" });
      } else if (kind === "failed" || kind === "cancelled") {
        done();
        const box = result.querySelector(".stream-error");
        if (box && kind === "failed") { box.textContent = msg.message; box.hidden = false; }
      }
    };
    try {
      const response = await fetch(result.dataset.streamUrl, { signal: controller.signal, headers: { Accept: "text/event-stream" } });
      if (response.status === 503) {
        const seconds = Number(response.headers.get("Retry-After") || 5);
        showBusy(result, seconds);
        setTimeout(() => { if (streams.get(instance) === controller && document.body.contains(result)) follow(result); }, seconds * 1000);
        return;
      }
      if (!response.ok) throw new Error("the server answered " + response.status);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        buffer = parseEvents(buffer + value, onEvent);
      }
      done();
    } catch (error) {
      done();
      if (controller.signal.aborted) return; // a newer setting took over: nothing to report
      const box = result.querySelector(".stream-error");
      if (box) { box.textContent = "The connection to the training run was lost. Move a control to try again."; box.hidden = false; }
    }
  }

  // A busy fragment (the queue was full) asks for the same setting again after Retry-After.
  function retryLater(result) {
    const seconds = Number(result.dataset.retryAfter);
    setTimeout(() => {
      if (!document.body.contains(result)) return;
      const form = result.closest(".widget") && result.closest(".widget").querySelector(".widget-form");
      if (!form) return;
      delete form.dataset.shownQuery;
      htmx.trigger(form, "change");
    }, seconds * 1000);
  }

  function within(root, selector) {
    const found = [...root.querySelectorAll(selector)];
    if (root.matches && root.matches(selector)) found.unshift(root);
    return found;
  }

  function activate(root) {
    for (const result of within(root, ".widget-result")) {
      const instance = result.dataset.instance;
      const json = result.querySelector("script.figure-json");
      if (json) {
        const previous = streams.get(instance);
        if (previous) { previous.abort(); streams.delete(instance); }
        draw(instance, JSON.parse(json.textContent), true);
      } else if (result.dataset.streamUrl) {
        follow(result);
      } else if (result.dataset.retryAfter) {
        retryLater(result);
      }
    }
    for (const widget of within(root, ".widget")) {
      const link = widget.querySelector("[data-permalink]");
      if (link) { const url = pageUrlWith(widget); link.href = url.pathname + url.search + url.hash; }
    }
  }

  function setupHtmx() {
    // a 422 carries a readable message about the bad value: show it instead of ignoring it
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true, error: false },
      { code: "503", swap: true, error: false }, // busy, queued: the fragment says so and retries
      { code: "[45]..", swap: false, error: true },
    ];
    htmx.onLoad(activate); // every element htmx adds (and the whole body at start)
    document.addEventListener("htmx:responseError", (event) => {
      const widget = event.detail.elt.closest && event.detail.elt.closest(".widget");
      const box = widget && widget.querySelector(".stream-error");
      if (box) { box.textContent = "The server answered " + event.detail.xhr.status + ". Try again."; box.hidden = false; }
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
    if (!window.htmx) activate(document);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      for (const chart of document.querySelectorAll(".widget-chart.js-plotly-plot")) {
        Plotly.relayout(chart, themed(chart.layout));
      }
    });
  });
})();
