// Pinned runs: "Pin this run" keeps the run on screen on its widget's chart while later runs
// of the widget are drawn beside it (up to three pins, dashed, "Pin N" in the legend), and a
// table under the chart lists the settings that differ between the run on screen and each pin.
//
// Pins live in the page's URL, one query parameter per widget instance, so they survive a
// reload and a shared link opens with them:
//   ?warmup.pins=warmup:0;peak_lr:0.003,warmup:0      two pins (only settings off the defaults)
//   ?warmup.pins=defaults                              one pin, at the widget's defaults
// A pin in a link is checked against the widget's spec (names, kinds, bounds, choices) and then
// by the server; a bad one is dropped with a visible note. A pinned run ran already, so its data
// is usually cached: it comes through the widget's normal stream (static/stream.js), which
// answers a cached setting with one `result` event and trains one that is not.
//
//   CoursePins.setup(widget)           once per widget (static/course.js calls it; idempotent)
//   CoursePins.shown(widget, result)   a finished .widget-result is on screen
// Without JavaScript none of this exists: the pins' box is `hidden` in templates/_widget.html.
window.CoursePins = (function () {
  "use strict";

  const MAX_PINS = 3;
  // each pin its own dash, in the chart and in the table's sample ("dot" is the ghost's)
  const DASHES = [["dash", "6 4", "/"], ["dashdot", "7 3 2 3", "\\"], ["longdash", "13 4", "x"]]; // + bars' hatching
  const AT_DEFAULTS = "defaults";

  // ---------- the spec and values -------------------------------------------------------
  // values: a Map name -> string, as in a URL ("0.003", "true", "pre-ln")
  function same(param, a, b) {
    if (param.kind === "float" || param.kind === "int") return Number(a) === Number(b);
    return String(a) === String(b);
  }

  function sameValues(spec, a, b) {
    return spec.every((p) => a.has(p.name) && b.has(p.name) && same(p, a.get(p.name), b.get(p.name)));
  }

  function defaultsOf(spec) {
    return new Map(spec.map((p) => [p.name, String(p.default)]));
  }

  function formValues(widget) {
    const values = new Map(new FormData(widget.querySelector(".widget-form")));
    values.delete("instance");
    return values;
  }

  function valuesOfResult(result) {
    const url = result && result.dataset.jsonUrl;
    return url ? new Map(new URL(url, window.location.origin).searchParams) : null;
  }

  // Why a pin's value cannot be right for `param`, or "" when it can (the server has the last word).
  function problem(param, raw) {
    const shown = `${param.label} "${raw.slice(0, 40)}"`;
    if (param.kind === "float" || param.kind === "int") {
      const x = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(x)) return `${shown} is not a number`;
      if (param.kind === "int" && !Number.isInteger(x)) return `${shown} is not a whole number`;
      if ((param.min !== null && x < param.min) || (param.max !== null && x > param.max)) {
        return `${shown} is outside ${param.min} to ${param.max}`;
      }
      return "";
    }
    if (param.kind === "bool") return raw === "true" || raw === "false" ? "" : `${shown} is not true or false`;
    if (param.kind === "choice") return param.choices.map(String).includes(raw) ? "" : `${shown} is not one of ${param.choices.join(", ")}`;
    return `${param.label} cannot be pinned`;
  }

  // ---------- the URL -----------------------------------------------------------------
  const escape = (text) => text.replace(/[%,;:]/g, encodeURIComponent);

  function encodePin(spec, values) {
    const defaults = defaultsOf(spec);
    const parts = spec.filter((p) => !same(p, values.get(p.name), defaults.get(p.name)))
      .map((p) => `${p.name}:${escape(values.get(p.name))}`);
    return parts.length ? parts.join(",") : AT_DEFAULTS;
  }

  // {pins: [values...], notes: [why a pin was dropped...]}
  function decodePins(spec, text) {
    const byName = new Map(spec.map((p) => [p.name, p]));
    const pins = [];
    const notes = [];
    for (const [k, piece] of text.split(";").entries()) {
      if (pins.length === MAX_PINS) { notes.push(`at most ${MAX_PINS} runs can be pinned; pin ${k + 1} was left out`); continue; }
      const values = defaultsOf(spec);
      const seen = new Set();
      let why = "";
      for (const pair of piece === AT_DEFAULTS ? [] : piece.split(",")) {
        const cut = pair.indexOf(":");
        const name = cut > 0 ? pair.slice(0, cut) : pair;
        let raw = "";
        try { raw = decodeURIComponent(pair.slice(cut + 1)); } catch (error) { why = `"${pair.slice(0, 40)}" is not readable`; break; }
        const param = byName.get(name);
        if (cut <= 0 || !param) why = `"${name.slice(0, 40)}" is not a setting of this widget`;
        else if (seen.has(name)) why = `${param.label} is given twice`;
        else why = problem(param, raw);
        if (why) break;
        seen.add(name);
        values.set(name, raw);
      }
      if (why) notes.push(`pin ${k + 1}: ${why}`);
      else if (pins.some((other) => sameValues(spec, other, values))) notes.push(`pin ${k + 1} repeats an earlier pin`);
      else pins.push(values);
    }
    return { pins, notes };
  }

  function keyOf(widget) { return widget.dataset.instance + ".pins"; }

  function withPins(href, key, value) {
    const url = new URL(href, window.location.origin);
    if (value) url.searchParams.set(key, value);
    else url.searchParams.delete(key);
    return url;
  }

  // The page's URL (and the widget's "link to this setting") carries the pins as they are now.
  function writeUrl(widget, st) {
    const value = st.pins.map((pin) => encodePin(st.spec, pin.values)).join(";");
    const url = withPins(window.location.href, keyOf(widget), value);
    history.replaceState(null, "", url.pathname + url.search + window.location.hash);
    const link = widget.querySelector("[data-permalink]");
    const href = link && link.getAttribute("href");
    if (href && href !== "#") {
      const shared = withPins(href, keyOf(widget), value);
      link.href = shared.pathname + shared.search + shared.hash;
    }
  }

  // ---------- a pinned run's data ------------------------------------------------------
  function figureOf(root) {
    const json = root.querySelector("script.figure-json");
    return json ? JSON.parse(json.textContent) : null;
  }

  function queryOf(spec, values) {
    return spec.map((p) => `${encodeURIComponent(p.name)}=${encodeURIComponent(values.get(p.name))}`).join("&");
  }

  // One pin at a time, in order, through the widget's own stream, under an instance of its own
  // so that it never replaces the run the controls asked for.
  function loadNext(widget, st) {
    if (st.loading) return;
    const pin = st.pins.find((p) => !p.figure && !p.failed);
    if (!pin) return;
    if (st.current && sameValues(st.spec, st.current.values, pin.values)) {
      pin.figure = figureOf(st.current.result);
      redraw(widget, st);
      return loadNext(widget, st);
    }
    const form = widget.querySelector(".widget-form");
    const instance = widget.dataset.instance.slice(0, 56) + "-pin" + (++st.requests % 1000);
    const url = form.dataset.stream + "?" + queryOf(st.spec, pin.values) + "&instance=" + instance;
    pin.controller = new AbortController();
    st.loading = pin;
    pin.status = "loading…";
    const done = (figure, values, failed) => {
      st.loading = null;
      pin.controller = null;
      if (!st.pins.includes(pin)) return loadNext(widget, st); // unpinned meanwhile
      if (figure) { pin.figure = figure; if (values) pin.values = values; writeUrl(widget, st); }
      if (failed) pin.failed = failed;
      redraw(widget, st);
      loadNext(widget, st);
    };
    const onEvent = (kind, msg) => {
      if (kind === "progress" && msg.total) { pin.status = `training, step ${msg.done} of ${msg.total}…`; renderTable(widget, st); }
      if (kind === "result") {
        const holder = document.createElement("template");
        holder.innerHTML = msg.html;
        const result = holder.content.querySelector(".widget-result");
        const figure = result && figureOf(result);
        done(figure, figure && valuesOfResult(result), figure ? "" : "the server sent no figure for it");
      } else if (kind === "failed" || kind === "cancelled") {
        done(null, null, msg.message || "its run was cancelled");
      }
    };
    renderTable(widget, st);
    CourseStream.read(url, { signal: pin.controller.signal, onEvent }).then((outcome) => {
      if (st.loading !== pin) return; // a result or failure event ended it
      if (outcome.busy) {
        pin.status = `the server is busy: asking again in ${outcome.busy} s`;
        st.loading = null;
        renderTable(widget, st);
        setTimeout(() => loadNext(widget, st), outcome.busy * 1000);
      } else if (outcome.refused) { // a value the server refuses (a 422 names it): not a pin at all
        st.loading = null;
        unpin(widget, st, pin, `A pinned run in the link was ignored: ${outcome.message}`);
        loadNext(widget, st);
      } else {
        done(null, null, "the stream ended without a result");
      }
    }, () => { if (st.loading === pin) done(null, null, "the connection was lost; reload the page to try again"); });
  }

  // ---------- drawing ---------------------------------------------------------------------
  // A pinned run's trace in the pin's style: its dash and open markers for curves, hatched
  // bars for bars; seed bands, text labels and traces with nothing drawn are left out.
  function pinnedTrace(trace, number) {
    const type = trace.type || "scatter";
    const style = { name: `Pin ${number}: ${trace.name || ""}`, legendgroup: `pin${number}:${trace.legendgroup || trace.name || ""}`,
                    meta: { pin: number } };
    if (type === "bar") {
      return Object.assign({}, trace, style, { opacity: 0.6, marker: Object.assign({}, trace.marker, { pattern: { shape: DASHES[number - 1][2] } }) });
    }
    if (type !== "scatter" || !trace.x || !trace.x.length) return null;
    if ((trace.fill && trace.fill !== "none") || (trace.line && trace.line.width === 0)) return null;
    const marker = Object.assign({}, trace.marker);
    if (typeof marker.symbol !== "object") marker.symbol = String(marker.symbol || "circle").replace(/-open$/, "") + "-open";
    return Object.assign({}, trace, style, {
      mode: String(trace.mode || "lines").replace(/\+?text/, "") || "lines", text: undefined, opacity: 0.85,
      line: Object.assign({}, trace.line, { dash: DASHES[number - 1][0] }), marker,
    });
  }

  function redraw(widget, st) {
    const chart = document.getElementById(widget.dataset.instance + "-chart");
    const traces = [];
    st.pins.forEach((pin, k) => {
      for (const trace of (pin.figure && pin.figure.data) || []) {
        const styled = pinnedTrace(trace, k + 1);
        if (styled) traces.push(styled);
      }
    });
    if (chart) CourseCharts.pin(chart, traces);
    renderTable(widget, st);
  }

  function shownValue(param, value) {
    if (param.kind === "bool") return value === "true" ? "on" : "off";
    if (param.kind === "choice") return param.choice_labels[param.choices.map(String).indexOf(value)] || value;
    const text = param.kind === "float" ? CourseControls.formatNumber(Number(value)) : value;
    return text + (param.unit ? " " + param.unit : "");
  }

  function cell(tag, text, attrs) {
    const node = document.createElement(tag);
    node.textContent = text;
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  // A short line drawn in the pin's dash, beside its name (decoration: the name says it all)
  function dashSample(k) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "pin-dash");
    svg.setAttribute("viewBox", "0 0 36 6");
    svg.setAttribute("aria-hidden", "true");
    const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
    for (const [name, value] of [["x1", 0], ["y1", 3], ["x2", 36], ["y2", 3], ["stroke-dasharray", DASHES[k][1]]]) line.setAttribute(name, value);
    svg.append(line);
    return svg;
  }

  // One row per setting that differs between a pin and the run on screen; the pin's name, its
  // dash and its Unpin button span its rows.
  function renderTable(widget, st) {
    const box = st.box.querySelector(".pins-diff");
    box.hidden = !st.pins.length;
    if (!st.pins.length) return box.replaceChildren();
    const table = document.createElement("table");
    table.append(cell("caption", "Pinned runs: the settings that differ from the run on screen"));
    const head = table.createTHead().insertRow();
    for (const title of ["Pin", "Setting", "Pinned", "On screen"]) head.append(cell("th", title, { scope: "col" }));
    const body = table.createTBody();
    st.pins.forEach((pin, k) => {
      const label = `Pin ${k + 1}`;
      const current = st.current ? st.current.values : formValues(widget); // the controls' until a result is shown
      const differ = st.spec.filter((p) => !same(p, pin.values.get(p.name), current.get(p.name)));
      const rows = Math.max(differ.length, 1);
      const first = body.insertRow();
      first.dataset.pinRow = String(k + 1);
      const name = cell("th", label, { scope: "row", rowspan: rows });
      name.append(dashSample(k), cell("button", "Unpin", { type: "button", class: "unpin-button", "aria-label": `Unpin ${label}`,
                                                           "data-unpin": String(k + 1) }));
      first.append(name);
      const status = pin.failed ? ` (not drawn: ${pin.failed})` : pin.figure ? "" : ` (${pin.status || "waiting…"})`;
      if (!differ.length) {
        first.append(cell("td", "The same settings as the run on screen" + status, { colspan: 3 }));
      }
      differ.forEach((p, i) => {
        const row = i === 0 ? first : body.insertRow();
        row.append(cell("td", p.label), cell("td", shownValue(p, pin.values.get(p.name)) + (i === 0 ? status : "")),
                   cell("td", shownValue(p, current.get(p.name))));
      });
    });
    box.replaceChildren(table);
  }

  // ---------- pinning and unpinning ----------------------------------------------------------
  function say(st, text) { st.box.querySelector(".pins-status").textContent = text; }

  function note(st, lines) {
    const box = st.box.querySelector(".pins-note");
    const text = lines.join(" ");
    box.textContent = text;
    box.hidden = !text;
  }

  function pinCurrent(widget, st) {
    const chart = document.getElementById(widget.dataset.instance + "-chart");
    if (!st.current || (chart && chart.dataset.final !== "1")) return say(st, "The run is still training: pin it once it has finished.");
    const k = st.pins.findIndex((pin) => sameValues(st.spec, pin.values, st.current.values));
    if (k >= 0) return say(st, `This run is already pinned, as Pin ${k + 1}.`);
    if (st.pins.length >= MAX_PINS) return say(st, `${MAX_PINS} runs are pinned already: unpin one first.`);
    st.pins.push({ values: st.current.values, figure: figureOf(st.current.result) });
    writeUrl(widget, st);
    redraw(widget, st);
    say(st, `Pinned as Pin ${st.pins.length}: move a control and it stays on the chart beside the new run.`);
  }

  function unpin(widget, st, pin, why) {
    if (pin.controller) pin.controller.abort();
    st.pins = st.pins.filter((other) => other !== pin);
    if (why) note(st, [why]);
    writeUrl(widget, st);
    redraw(widget, st);
  }

  function setup(widget) {
    if (widget._pins !== undefined) return widget._pins;
    const box = document.getElementById(widget.dataset.instance + "-pins");
    const json = box && box.querySelector("script.widget-spec");
    const form = widget.querySelector(".widget-form");
    if (!json || !form || !form.dataset.stream) return (widget._pins = null);
    const st = { box, spec: JSON.parse(json.textContent).filter((p) => p.kind !== "text"), pins: [], current: null,
                 loading: null, requests: 0 };
    widget._pins = st;
    const text = new URL(window.location.href).searchParams.get(keyOf(widget));
    if (text) {
      const { pins, notes } = decodePins(st.spec, text);
      st.pins = pins.map((values) => ({ values, figure: null }));
      if (notes.length) note(st, ["Some pinned runs in the link were ignored:", notes.join("; ") + "."]);
      writeUrl(widget, st); // without the pins it dropped
    }
    box.addEventListener("click", (event) => {
      if (event.target.closest("[data-pin]")) pinCurrent(widget, st);
      const button = event.target.closest("[data-unpin]");
      if (button) {
        const k = Number(button.dataset.unpin) - 1;
        unpin(widget, st, st.pins[k]);
        say(st, `Pin ${k + 1} was unpinned.`);
        box.querySelector("[data-pin]").focus(); // its button is gone: focus stays in the widget
      }
    });
    box.hidden = false;
    redraw(widget, st);
    loadNext(widget, st);
    return st;
  }

  function shown(widget, result) {
    const st = setup(widget);
    const values = valuesOfResult(result);
    if (!st || !values || !result.querySelector("script.figure-json")) return;
    st.current = { values, result };
    renderTable(widget, st);
    loadNext(widget, st);
  }

  return { setup, shown, decodePins, encodePin };
})();
