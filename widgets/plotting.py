"""Small builders for Plotly figures as plain dicts (no plotly import on the hot path).

Colours come from one palette so "run 0" looks the same in every panel; the page's
JavaScript sets fonts and background to match light or dark mode.
"""
from __future__ import annotations

PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"]


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def line(x, y, name: str, i: int = 0, panel: int = 1, dash: str | None = None,
         show_legend: bool = True, mode: str = "lines", group: str | None = None, **extra) -> dict:
    """One trace on panel `panel` (1-based, stacked top to bottom)."""
    suffix = "" if panel == 1 else str(panel)
    trace = {"type": "scatter", "mode": mode, "x": list(x), "y": list(y), "name": name,
             "line": {"color": color(i), "width": 2, **({"dash": dash} if dash else {})},
             "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "showlegend": show_legend,
             "legendgroup": group or name}
    trace.update(extra)
    return trace


def panels_layout(titles: list[str], x_title: str = "step", y_titles: list[str] | None = None,
                  y_log: list[bool] | None = None, y_ranges: list | None = None, height: int | None = None,
                  shared_x: bool = True) -> dict:
    """A layout of vertically stacked panels sharing the x axis."""
    n = len(titles)
    gap = 0.06 if n > 1 else 0.0
    size = (1 - gap * (n - 1)) / n
    top_margin = 70 if n > 1 else 40  # room for the legend above the first panel's title
    layout = {"height": height or (230 + 170 * n), "margin": {"l": 64, "r": 16, "t": top_margin, "b": 48},
              "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0,
                         **({"y": 1.0 + 40 / (230 + 170 * n)} if n > 1 else {})},
              "hovermode": "x unified", "annotations": []}
    for k in range(n):
        suffix = "" if k == 0 else str(k + 1)
        top = 1 - k * (size + gap)
        layout[f"yaxis{suffix}"] = {
            "domain": [max(0.0, top - size), top], "anchor": f"x{suffix}",
            "title": {"text": (y_titles or titles)[k]},
            **({"type": "log"} if y_log and y_log[k] else {}),
            **({"range": y_ranges[k]} if y_ranges and y_ranges[k] is not None else {}),
        }
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}",
                                    **({"matches": "x"} if shared_x and k else {}),
                                    **({"title": {"text": x_title}} if k == n - 1 else {"showticklabels": k == n - 1})}
        if n > 1:
            layout["annotations"].append({"text": f"<b>{titles[k]}</b>", "xref": "paper", "yref": "paper",
                                          "x": 0, "y": top, "xanchor": "left", "yanchor": "bottom",
                                          "showarrow": False})
    return layout


def figure(traces: list[dict], layout: dict, ghost: bool = False) -> dict:
    """ghost=True asks the page to keep the previous setting's curves as faint ghosts."""
    if ghost:
        layout = {**layout, "meta": {"ghost": True}}
    return {"data": traces, "layout": layout}


def wrap_html(text: str, width: int = 70) -> str:
    """Break text into lines of at most `width` characters for a Plotly annotation (<br>)."""
    words, lines, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    lines.append(current)
    return "<br>".join(lines)
