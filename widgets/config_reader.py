"""Config reader: paste a training config, get every stability knob annotated.

The text is parsed safely by widgets/config_knobs.py (yaml.safe_load or
ast.literal_eval, capped in size, depth and entries). Text that cannot be read
gives a normal result whose "error" field says why (shown in the chart and the
table); only text over the length limit is a 422, from the parameter itself.
"""
from __future__ import annotations

from widgets.base import Param, Widget
from widgets.config_knobs import DEFAULT_CONFIG, LEVELS, MAX_CHARS, read_config
from widgets.kit import figure, wrap_html

LEVEL_COLORS = {"ok": "#059669", "note": "#2563eb", "unusual": "#d97706", "risky": "#dc2626"}
LEVEL_LABELS = {"ok": "ok", "note": "note", "unusual": "unusual", "risky": "risky"}


class ConfigReaderWidget(Widget):
    def compute(self, values, progress=None):
        return read_config(values["config"])

    def figure(self, values, data):
        if data["error"]:
            trace = {"type": "bar", "orientation": "h", "x": [], "y": [], "name": "no knobs read",
                     "showlegend": False}
            layout = {"height": 260, "margin": {"l": 40, "r": 40, "t": 40, "b": 40},
                      "xaxis": {"visible": False}, "yaxis": {"visible": False},
                      "annotations": [{"text": "<b>The config could not be read</b><br>" + wrap_html(data["error"]),
                                       "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                       "showarrow": False, "font": {"size": 14, "color": LEVEL_COLORS["risky"]},
                                       "align": "center"}]}
            return figure([trace], layout)
        rows = data["rows"]
        names = [f"{r['knob']} = {r['value']}" if len(r['value']) <= 24 else f"{r['knob']} = {r['value'][:21]}..."
                 for r in rows]
        traces = []
        for level in LEVELS:
            picked = [i for i, r in enumerate(rows) if r["level"] == level]
            traces.append({"type": "bar", "orientation": "h", "name": LEVEL_LABELS[level],
                           "x": [LEVELS.index(level) + 1 for _ in picked], "y": [names[i] for i in picked],
                           "marker": {"color": LEVEL_COLORS[level]},
                           "customdata": [rows[i]["comment"] or rows[i]["common"] for i in picked],
                           "hovertemplate": "%{y}<br>%{customdata}<extra>" + level + "</extra>"})
        flagged = data["flags"]
        title = ("No knob flagged: every value is a common one" if flagged == 0
                 else f"{flagged} knob{'s' if flagged != 1 else ''} flagged (unusual or risky)")
        layout = {"height": 120 + 22 * len(rows), "margin": {"l": 230, "r": 16, "t": 80, "b": 40},
                  "title": {"text": title, "x": 0, "xanchor": "left", "yref": "container", "y": 1, "yanchor": "top",
                            "pad": {"t": 12}},
                  "barmode": "stack", "hovermode": "closest",
                  "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
                  "xaxis": {"range": [0, 4.2], "tickvals": [1, 2, 3, 4], "ticktext": list(LEVELS),
                            "title": {"text": "level"}},
                  "yaxis": {"categoryorder": "array", "categoryarray": list(reversed(names)),
                            "automargin": True}}
        return figure(traces, layout)

    def findings(self, values, data):
        if data["error"]:
            return [f"The config could not be read: {data['error']}"]
        flagged = [r for r in data["rows"] if r["level"] in ("unusual", "risky")]
        found = [f"{len(flagged)} knob{'s' if len(flagged) != 1 else ''} flagged as unusual or risky."
                 if flagged else "No knob flagged: every value is a common one."]
        found += [f"{r['knob']} = {r['value']} ({r['level']}): {r['comment']}" for r in flagged if r["comment"]]
        return found

    def tables(self, values, data):
        if data["error"]:
            return [{"caption": "The config could not be read", "columns": ["problem"],
                     "rows": [[data["error"]]]}]
        tables = [{"caption": f"Each knob read from the {data['format']} config "
                              f"({data['flags']} flagged as unusual or risky)",
                   "columns": ["where", "knob", "value", "level", "comment", "guards against", "common value"],
                   "rows": [[r["path"], r["knob"], r["value"], r["level"], r["comment"] or "-", r["guards"],
                             r["common"]] for r in data["rows"]]}]
        if data["arithmetic"]:
            tables.append({"caption": "Batch arithmetic computed from the config",
                           "columns": ["quantity", "how", "value"],
                           "rows": [[a["quantity"], a["formula"], f"{a['value']:,}"] for a in data["arithmetic"]]})
        if data.get("unknown_keys"):
            tables.append({"caption": "Keys this reader does not annotate", "columns": ["key"],
                           "rows": [[k] for k in data["unknown_keys"]]})
        return tables

    def code(self, values):
        return (
            "# Annotate a training config with the course's knowledge base (parsed safely:\n"
            "# yaml.safe_load or ast.literal_eval, capped in size and depth). Run from the repo root.\n"
            "from widgets.config_knobs import read_config\n\n"
            f"text = {values['config']!r}\n\n"
            "report = read_config(text)\n"
            "if report[\"error\"]:\n"
            "    print(\"error:\", report[\"error\"])\n"
            "for row in report[\"rows\"]:\n"
            "    print(f\"{row['level']:>8}  {row['path']:<28} {row['value']:<14} {row['comment'] or row['common']}\")\n"
            "for item in report[\"arithmetic\"]:\n"
            "    print(f\"{item['quantity']}: {item['value']:,}  ({item['formula']})\")\n"
            "print(f\"{report['flags']} knob(s) flagged\")\n"
        )


WIDGET = ConfigReaderWidget(
    name="config-reader",
    title="Config reader: what each knob guards against",
    caption=("The default is the curriculum's representative pretraining config (AdamW 0.9/0.95, "
             "LR 3e-4 with 2000 warmup steps and cosine to 1e-5, clip 1.0, 4M-token batches): "
             "no knob is flagged, and it trains on 2.1 trillion tokens."),
    params=(
        Param("config", "Training config (YAML or a Python dict)", "text", DEFAULT_CONFIG,
              max_length=MAX_CHARS,
              help="Paste a config: nested sections are fine. It is parsed safely, never executed."),
    ),
)
