""""Show the code" as a Jupyter notebook: the widget's Script (widgets/script.py), cell by cell.

The first cell says what the chart shows and lists its settings (the parameters of the link it
came from); then each step of the script is a markdown cell saying what it does and a code cell;
the last cell prints the numbers the chart shows. It runs top to bottom on a fresh kernel from
the course's repository root (tests/widgets/test_notebooks.py checks every notebook's code is its
script's, which test_show_the_code.py runs for every widget, and executes three notebooks with
nbclient, comparing what they print with compute's numbers). The notebook's metadata keeps
the widget's name and settings.
"""
from __future__ import annotations

import nbformat
from nbformat import v4

from widgets.base import Widget

MEDIA_TYPE = "application/x-ipynb+json"
FIND_THE_COURSE = ("# The course's code is in its repository: this notebook's folder when it is started there,\n"
                   "# or the folder in COURSE_ROOT.\n"
                   "import os\n"
                   "import sys\n"
                   "sys.path.insert(0, os.environ.get(\"COURSE_ROOT\", os.getcwd()))\n")


def _cell_text(text: str) -> str:
    """A value as a markdown table cell shows it (one line, no column breaks)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def settings_table(widget: Widget, values: dict) -> str:
    rows = ["| setting | in the link | value |", "|---|---|---|"]
    for p in widget.params:
        value = values[p.name]
        if p.kind == "text":
            shown = f"{len(value):,} characters (in the settings cell below)"
        elif p.kind == "bool":
            shown = "on" if value else "off"
        else:
            shown = p.label_of(value)
        rows.append(f"| {_cell_text(p.label)} | `{p.name}` | {_cell_text(shown)} |")
    return "\n".join(rows)


def introduction(widget: Widget, about: str, values: dict) -> str:
    return (f"# {widget.title}\n\n{about}\n\n"
            "This notebook computes the chart's numbers again, on your machine, with the chart's settings:\n\n"
            f"{settings_table(widget, values)}\n\n"
            "Run it top to bottom from the course's repository root (the folder that holds `widgets/`), for "
            "example in `jupyter lab` started there. The seed is fixed (same initial weights, same batches), so "
            "the numbers it prints at the end are the chart's, up to float rounding on another machine.")


def notebook(widget: Widget, values: dict) -> nbformat.NotebookNode:
    """The notebook of `widget` at canonical `values`."""
    script = widget.script(values)
    cells = [v4.new_markdown_cell(introduction(widget, script.about or widget.caption, values)),
             v4.new_code_cell(FIND_THE_COURSE + "\n" + script.imports.strip())]
    for step in script.all_steps():
        cells += [v4.new_markdown_cell(step.say), v4.new_code_cell(step.code.rstrip())]
    nb = v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "course": {"widget": widget.name, "params": values}})
    nbformat.validate(nb)
    return nb


def notebook_text(widget: Widget, values: dict) -> str:
    """The notebook as the .ipynb file's text."""
    return nbformat.writes(notebook(widget, values))
