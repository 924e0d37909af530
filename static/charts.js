// Charts: Plotly, loaded only on pages that draw one, themed for light and dark, fitted to
// the screen, and redrawn at most once per animation frame however fast a run streams.
//
//   CourseCharts.ready()               a promise of Plotly (the script is fetched the first time)
//   CourseCharts.begin(chart)          a new run for this chart: the last finished one becomes a ghost
//   CourseCharts.nearest(chart, fig)   the nearest ready setting, faint, until this run draws
//   CourseCharts.progress(chart, msg)  a progress event's figure change (whole, or new points)
//   CourseCharts.show(chart, figure)   the finished figure
//   CourseCharts.pin(chart, traces)    curves of pinned runs drawn beside every later run (static/pins.js)
//   CourseCharts.retheme()             redraw every chart (the colour scheme changed)
//
// Each chart keeps the figure as the server sent it (its "model"); what Plotly draws is made
// from it every time (theme, phone fitting, ghosts), so nothing compounds from draw to draw.
// A frame whose changes are only new points draws them with one Plotly.extendTraces for all
// traces; anything else with one Plotly.react.
window.CourseCharts = (function () {
  "use strict";

  const config = { responsive: true, displaylogo: false, displayModeBar: false };
  let loading = null;

  function ready() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!loading) {
      loading = new Promise((resolve, reject) => {
        const meta = document.querySelector('meta[name="course-plotly"]');
        const script = document.createElement("script");
        script.src = meta ? meta.content : "/vendor/plotly.min.js";
        script.onload = () => resolve(window.Plotly);
        script.onerror = () => { loading = null; reject(new Error("the chart library did not load")); };
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  // model: the figure as sent; tails: points appended since the last draw (trace -> {attr: values});
  // redraw: something else changed since then (a whole figure, a layout, ghosts, the theme)
  function state(chart) {
    if (!chart._course) {
      chart._course = { model: null, ghosts: [], pins: [], lastFinal: null, final: false, queued: false, tails: new Map(), redraw: true };
    }
    return chart._course;
  }

  // ---------- the theme and the screen --------------------------------------------------
  const narrow = (width) => width > 0 && width < 640;

  function themed(source, width, traces) {
    const style = getComputedStyle(document.documentElement);
    const fg = style.getPropertyValue("--fg").trim() || "#111";
    const grid = style.getPropertyValue("--grid").trim() || "#ddd";
    const layout = Object.assign({}, source, {
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: fg, family: "system-ui, sans-serif", size: 12 },
      autosize: true,
    });
    for (const key of Object.keys(layout)) {
      if (/^[xy]axis\d*$/.test(key)) layout[key] = Object.assign({ gridcolor: grid, zerolinecolor: grid }, layout[key]);
    }
    return narrow(width) ? CourseChartFit.narrowed(layout, traces, width) : layout;
  }

  // ---------- ghosts: the previous run, faint, under the new one ---------------------------
  function ghostsOf(traces, suffix = " (previous)") {
    return (traces || []).filter((t) => (t.type || "scatter") === "scatter" && t.x && t.x.length).map((t) => Object.assign({}, t, {
      name: (t.name || "") + suffix, showlegend: false, hoverinfo: "skip", hovertemplate: undefined,
      opacity: 0.3, mode: String(t.mode || "lines").replace(/\+?text/, "") || "lines", text: undefined,
      line: Object.assign({}, t.line || {}, { dash: "dot" }),
    }));
  }

  function wantsGhosts(chart, figure) {
    const meta = figure && figure.layout && figure.layout.meta;
    return chart.dataset.ghost === "1" || Boolean(meta && meta.ghost);
  }

  function begin(chart) {
    const s = state(chart);
    if (s.lastFinal && wantsGhosts(chart, s.model)) s.ghosts = ghostsOf(s.lastFinal);
    s.newRun = true; // new points belong to the new run's figure, not to the one on screen
    s.redraw = true;
    delete chart.dataset.final;
  }

  // The nearest ready setting's finished figure, faint, on a chart that has nothing to show yet
  // (a page opened at a setting nobody ran; the `nearest` event, app/web/jobs_http.py). A chart
  // with a run on screen keeps it (as a ghost, or in full) until the new run draws. True if drawn.
  function nearest(chart, figure) {
    const s = state(chart);
    if (s.model) return false;
    s.ghosts = ghostsOf(figure.data, " (nearest ready)");
    s.nearestShown = true; // gone when this run draws its own figure
    s.model = { data: [], layout: figure.layout };
    // the run's points extend its own figure, not this one: a page that joined a run under way
    // gets new points before any figure, and they wait for the result (else Plotly is asked to
    // extend traces the chart does not have)
    s.newRun = true;
    s.redraw = true;
    chart.dataset.nearest = "1";
    schedule(chart);
    return true;
  }

  function dropNearest(s) {
    if (s.nearestShown) { s.ghosts = []; s.nearestShown = false; }
  }

  // ---------- drawing, at most once a frame ------------------------------------------------
  function schedule(chart) {
    const s = state(chart);
    if (s.queued) return;
    s.queued = true;
    ready().then((Plotly) => requestAnimationFrame(() => {
      s.queued = false;
      if (!s.model || !chart.isConnected) return;
      const appended = !s.redraw && appendOnly(s.tails);
      if (appended) { // new points only: one extendTraces for every trace (Plotly redraws once)
        const under = s.ghosts.length + s.pins.length; // the run's traces come after these
        Plotly.extendTraces(chart, appended.update, appended.indices.map((i) => i + under));
      } else {
        const traces = s.ghosts.concat(s.pins, s.model.data);
        const layout = themed(s.model.layout, chart.clientWidth, traces);
        Plotly.react(chart, traces, layout, config);
        // a finished chart on a phone: what still spills past the edge is broken into shorter lines
        const refit = s.final && narrow(chart.clientWidth) ? CourseChartFit.refit(chart, layout, traces) : null;
        if (refit) Plotly.react(chart, refit.traces, refit.layout, config);
      }
      s.tails = new Map();
      s.redraw = false;
      chart.dataset.drawn = String(Number(chart.dataset.drawn || 0) + 1);
      if (s.final) chart.dataset.final = "1";
      else chart.dataset.partial = String(Number(chart.dataset.partial || 0) + 1);
    }), () => { s.queued = false; chart.dataset.failed = "1"; });
  }

  function progress(chart, msg) {
    const s = state(chart);
    chart.dataset.progress = String(Number(chart.dataset.progress || 0) + 1);
    if (msg.figure) { s.model = { data: msg.figure.data.slice(), layout: msg.figure.layout }; s.newRun = false; dropNearest(s); }
    if (!s.model || s.newRun) return; // new points before their figure (joined late): wait for the result
    if (!msg.figure) s.model = { data: s.model.data.slice(), layout: msg.layout || s.model.layout };
    if (msg.figure || msg.layout || msg.replace) s.redraw = true;
    for (const change of msg.replace || []) s.model.data[change.trace] = change.data;
    for (const change of msg.extend || []) {
      s.model.data[change.trace] = extended(s.model.data[change.trace], change.data);
      const tails = s.tails.get(change.trace) || {};
      for (const [attr, tail] of Object.entries(change.data)) tails[attr] = (tails[attr] || []).concat(tail);
      s.tails.set(change.trace, tails);
    }
    s.final = false;
    delete chart.dataset.final;
    schedule(chart);
  }

  // {update, indices} for Plotly.extendTraces when every trace grew the same attributes; else null
  function appendOnly(tails) {
    if (!tails.size) return null;
    const indices = [...tails.keys()];
    const attrs = Object.keys(tails.get(indices[0])).sort();
    if (indices.some((i) => Object.keys(tails.get(i)).sort().join() !== attrs.join())) return null;
    const update = {};
    for (const attr of attrs) update[attr] = indices.map((i) => tails.get(i)[attr]);
    return { update, indices };
  }

  // A trace with new points appended: new arrays, so Plotly.react sees what changed.
  function extended(trace, tails) {
    const out = Object.assign({}, trace);
    for (const [dotted, tail] of Object.entries(tails)) {
      const path = dotted.split(".");
      let holder = out;
      for (const part of path.slice(0, -1)) holder = holder[part] = Object.assign({}, holder[part]);
      const leaf = path[path.length - 1];
      holder[leaf] = (holder[leaf] || []).concat(tail);
    }
    return out;
  }

  function show(chart, figure) {
    const s = state(chart);
    s.model = figure;
    s.newRun = false;
    dropNearest(s);
    if (!wantsGhosts(chart, figure)) s.ghosts = [];
    s.lastFinal = figure.data;
    s.final = true;
    s.redraw = true;
    delete chart.dataset.final;
    schedule(chart);
  }

  // Pinned runs' traces (already styled by static/pins.js): kept through every later run until
  // replaced; drawn between the ghost and the run on screen.
  function pin(chart, traces) {
    const s = state(chart);
    s.pins = traces;
    s.redraw = true;
    if (s.model) schedule(chart);
  }

  function retheme() {
    for (const chart of document.querySelectorAll(".widget-chart")) {
      if (chart._course && chart._course.model) { chart._course.redraw = true; schedule(chart); }
    }
  }

  let resizing = null;
  window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(retheme, 150); });

  return { ready, begin, nearest, progress, show, pin, retheme };
})();
