// Glue between htmx, the server's widget results and Plotly.
// - controls: show each slider's value, convert log sliders, keep state in the URL
// - results: draw a finished figure with Plotly.react, or follow a training stream
(function () {
  "use strict";

  const streams = new Map(); // widget instance -> EventSource of its current run

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

  function follow(result) {
    const instance = result.dataset.instance;
    const previous = streams.get(instance);
    if (previous) previous.close();
    const source = new EventSource(result.dataset.streamUrl);
    streams.set(instance, source);
    source.addEventListener("progress", (event) => {
      const msg = JSON.parse(event.data);
      draw(instance, msg.figure, false);
      setProgress(result, msg.done, msg.total);
    });
    source.addEventListener("result", (event) => {
      source.close();
      streams.delete(instance);
      const msg = JSON.parse(event.data);
      draw(instance, msg.figure, true);
      setProgress(result, 1, 1, "done");
      // fetch the finished fragment (now cached): provenance, data table, code
      if (document.body.contains(result) && result.dataset.fragmentUrl) {
        htmx.ajax("GET", result.dataset.fragmentUrl, { target: result, swap: "outerHTML" });
      }
    });
    source.addEventListener("error", (event) => {
      source.close();
      streams.delete(instance);
      const box = result.querySelector(".stream-error");
      let message = "The connection to the training run was lost. Move a control to try again.";
      if (event.data) message = "The run failed: " + JSON.parse(event.data).message;
      if (box) { box.textContent = message; box.hidden = false; }
    });
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
        if (previous) { previous.close(); streams.delete(instance); }
        draw(instance, JSON.parse(json.textContent), true);
      } else if (result.dataset.streamUrl) {
        follow(result);
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
