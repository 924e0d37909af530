// Chart text on a narrow screen (a phone): every title, note, category and label inside the
// chart, none running past its edge or into the next panel. Used by static/charts.js.
//
//   CourseChartFit.narrowed(layout, traces, width)  layout and traces for a chart `width` px wide
//   CourseChartFit.refit(chart, layout, traces)     after a draw: what still spills, broken into
//                                                   shorter lines; null when everything fits
window.CourseChartFit = (function () {
  "use strict";

  const SIZE = 10; // px, the type size on a phone
  const CHAR = 0.62; // a character's width in em, roughly, for the system sans-serif

  // Lines of at most `chars` characters, broken between words; Plotly's <br> kept.
  function wrap(text, chars) {
    return String(text).split(/<br\s*\/?>/i).map((line) => {
      const lines = [];
      let current = "";
      for (const word of line.split(" ")) {
        const visible = (current + " " + word).replace(/<[^>]+>/g, "").trim();
        if (current && visible.length > chars) { lines.push(current); current = word; } else current = current ? current + " " + word : word;
      }
      lines.push(current);
      return lines.join("<br>");
    }).join("<br>");
  }

  // wrap(), and a line still too long broken after its hyphen ("micro-" / "batches")
  function wrapAtHyphens(text, chars) {
    return wrap(text, chars).split("<br>").flatMap((line) => {
      const cut = line.indexOf("-") + 1;
      return line.length > chars && cut > 0 ? [line.slice(0, cut), line.slice(cut)] : [line];
    }).join("<br>");
  }

  function longestLine(text) {
    return Math.max(...String(text).split(/<br\s*\/?>/i).map((line) => line.replace(/<[^>]+>/g, "").length));
  }

  const isAxis = (key) => /^[xy]axis\d*$/.test(key);

  // Category labels on a category axis: at most as wide as one category's share of the plot.
  function wrapCategories(layout, traces, plotWidth) {
    for (const key of Object.keys(layout).filter((k) => /^xaxis\d*$/.test(k))) {
      const ref = key.replace("axis", "");
      const categories = [...new Set(traces.filter((t) => (t.xaxis || "x") === ref && t.orientation !== "h")
        .flatMap((t) => t.x || []).filter((v) => typeof v === "string"))];
      if (!categories.length) continue;
      const chars = Math.floor(plotWidth / categories.length / (SIZE * CHAR)) - 1;
      const longestWord = Math.max(...categories.flatMap((c) => c.split(/[ <>]|(?<=-)/)).map((w) => w.length));
      layout[key] = Object.assign({}, layout[key], longestWord <= chars
        ? { tickmode: "array", tickvals: categories, ticktext: categories.map((c) => wrapAtHyphens(c, chars)), tickangle: 0 }
        : { tickangle: -90 }); // too many to stand side by side: upright, the margin grows to hold them
    }
    for (const key of Object.keys(layout).filter((k) => /^yaxis\d*$/.test(k))) {
      const ref = key.replace("axis", "");
      const categories = [...new Set(traces.filter((t) => (t.yaxis || "y") === ref && t.orientation === "h")
        .flatMap((t) => t.y || []).filter((v) => typeof v === "string"))];
      if (!categories.length) continue;
      const chars = Math.max(8, Math.floor(plotWidth * 0.4 / (SIZE * CHAR)));
      layout[key] = Object.assign({}, layout[key], { tickmode: "array", tickvals: categories,
        ticktext: categories.map((c) => wrap(c, chars)) });
    }
  }

  // How many rows a horizontal legend of these traces takes in `width` px: one when every item
  // fits on a line, else Plotly sets them in columns as wide as the widest item.
  function legendRows(traces, width) {
    const names = new Map();
    for (const t of traces) if (t.showlegend !== false && t.name) names.set(t.legendgroup || t.name, t.name);
    const widths = [...names.values()].map((name) => 44 + name.replace(/<[^>]+>/g, "").length * SIZE * CHAR);
    if (!widths.length) return 0;
    if (widths.reduce((a, b) => a + b, 0) <= width) return 1;
    return Math.ceil(widths.length / Math.max(1, Math.floor(width / Math.max(...widths))));
  }

  function narrowed(layout, traces, width) {
    const margin = Object.assign({ l: 52, r: 16, t: 40, b: 48 }, layout.margin || {});
    margin.l = Math.min(margin.l, 52);
    layout.margin = margin;
    layout.font = Object.assign({}, layout.font, { size: SIZE });
    // the height stays: text in more lines needs the room the narrower width takes away
    const plotWidth = width - margin.l - margin.r;
    const chars = Math.max(12, Math.floor(plotWidth / (SIZE * CHAR)));
    // the legend goes to the top of the chart, with room below it for the titles of the top panels
    const rows = legendRows(traces, width - 16);
    if (layout.showlegend !== false && rows) {
      layout.legend = Object.assign({}, layout.legend, { font: { size: SIZE }, orientation: "h", x: 0, xanchor: "left",
        y: 1, yref: "container", yanchor: "top" });
      margin.t = Math.max(margin.t, rows * 22 + 30);
    }
    if (layout.title) {
      const title = typeof layout.title === "string" ? { text: layout.title } : layout.title;
      layout.title = Object.assign({}, title, { text: wrap(title.text || "", chars), automargin: true,
        yref: "container", y: 1, yanchor: "top", pad: { t: 12 }, font: Object.assign({}, title.font, { size: SIZE + 1 }) });
    }
    // a note anchored at a paper x ends at the chart's edge or at the next note on its line
    const notes = layout.annotations || [];
    let extraTop = 0;
    layout.annotations = notes.map((note) => {
      let room = chars;
      if ((note.xref || "paper") === "paper" && (note.xanchor || "left") === "left") {
        const next = notes.filter((o) => o !== note && (o.xref || "paper") === "paper" && o.y === note.y && o.x > note.x)
          .reduce((m, o) => Math.min(m, o.x), null);
        const right = next === null ? width - 4 : margin.l + next * plotWidth; // alone on its line: to the chart's edge
        room = Math.max(10, Math.floor((right - margin.l - note.x * plotWidth) / (SIZE * CHAR)) - 1);
      }
      const text = wrap(note.text, room);
      if (note.yref === "paper" && note.y >= 0.99 && (note.yanchor || "middle") === "bottom") {
        extraTop = Math.max(extraTop, (text.split("<br>").length - note.text.split(/<br\s*\/?>/i).length) * (SIZE + 4));
      }
      return Object.assign({}, note, { text, font: Object.assign({}, note.font || {}, { size: SIZE }) });
    });
    margin.t += extraTop; // a top panel's title in more lines: they grow upwards
    for (const key of Object.keys(layout).filter(isAxis)) {
      const axis = layout[key];
      const title = axis.title && (typeof axis.title === "string" ? { text: axis.title } : axis.title);
      const room = key[0] === "x" ? chars : Math.max(12, Math.floor((layout.height || 400) / 3 / (SIZE * CHAR)));
      layout[key] = Object.assign({}, axis, { automargin: true, tickfont: Object.assign({ size: SIZE }, axis.tickfont || {}) },
        title ? { title: Object.assign({}, title, { text: wrap(title.text || "", room) }) } : {});
    }
    wrapCategories(layout, traces, plotWidth);
    return layout;
  }

  // ---------- after a draw: measure, and break what still spills --------------------------
  function refit(chart, layout, traces) {
    const svg = chart.querySelector("svg.main-svg");
    if (!svg) return null;
    const box = svg.getBoundingClientRect();
    const spill = (r) => Math.max(0, r.right - box.right + 1) + Math.max(0, box.left - r.left + 1);
    let changed = false;
    const notes = (layout.annotations || []).slice();
    for (const g of chart.querySelectorAll(".infolayer .annotation")) {
      const i = Number(g.dataset.index);
      const r = g.getBoundingClientRect();
      if (!notes[i] || !r.width || !spill(r)) continue;
      const chars = Math.max(6, Math.floor(longestLine(notes[i].text) * (r.width - spill(r)) / r.width) - 1);
      notes[i] = Object.assign({}, notes[i], { text: wrap(notes[i].text.replace(/<br\s*\/?>/gi, " "), chars) });
      changed = true;
    }
    // text drawn by a trace (scatter text, bar labels): smaller, and in two lines
    const shrink = new Map(); // trace index -> the share of its widest text that fits
    for (const text of chart.querySelectorAll(".textpoint text, .bartext")) {
      const r = text.getBoundingClientRect();
      const group = text.closest(".trace");
      const cd = group && group.__data__;
      const index = cd && cd[0] && cd[0].trace ? cd[0].trace.index : undefined;
      if (!r.width || !spill(r) || index === undefined || !traces[index]) continue;
      shrink.set(index, Math.min(shrink.get(index) || 1, (r.width - spill(r)) / r.width));
    }
    const fixedTraces = traces.slice();
    for (const [index, share] of shrink) {
      const t = traces[index];
      const size = Math.max(7, Math.floor(((t.textfont && t.textfont.size) || SIZE) * Math.max(0.7, share)));
      fixedTraces[index] = Object.assign({}, t, { textfont: Object.assign({}, t.textfont, { size }),
        text: Array.isArray(t.text) ? t.text.map((s) => wrap(s, Math.ceil(longestLine(s) / 2))) : t.text });
      changed = true;
    }
    return changed ? { layout: Object.assign({}, layout, { annotations: notes }), traces: fixedTraces } : null;
  }

  return { narrowed, refit, wrap };
})();
