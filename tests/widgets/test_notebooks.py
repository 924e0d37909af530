"""Every widget's "show the code" as a Jupyter notebook: the download route; every notebook's code
cells are its script's code, step by step; and notebooks run top to bottom on a fresh kernel
(nbclient), printing the numbers compute's data holds.

Every widget's script is run and its numbers compared with compute's in test_show_the_code.py;
the notebook is that script's code in cells (checked here for every widget), so executing every
notebook too trained every widget a third time (about 290 s of the suite). A kernel runs the
notebooks of KERNEL_RUNS: one that trains nothing, one that trains a small model, and the first
chapter's GPT, from the repository root as the first cell tells a learner to start it.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import nbformat
import pytest

from script_numbers import agree, printed_numbers
from shared_runs import widget_run
from widgets.notebook import MEDIA_TYPE, notebook
from widgets.registry import all_widgets

ROOT = Path(__file__).resolve().parents[2]
WIDGETS = all_widgets()
NAMES = sorted(WIDGETS)
CELL_TIMEOUT_S = 600
KERNEL_RUNS = ["config-reader", "optimizer-race", "warmup"]


@lru_cache(maxsize=None)
def executed(name: str) -> nbformat.NotebookNode:
    """The widget's default notebook after a run on a fresh kernel (once per session)."""
    from nbclient import NotebookClient

    widget = WIDGETS[name]
    nb = notebook(widget, widget.canonicalize({}))
    # the kernel inherits this process's environment: the tests' device and thread count
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


def stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.outputs if out.output_type == "stream" and out.name == "stdout")


@pytest.mark.parametrize("name", NAMES)
def test_the_notebooks_code_is_the_scripts_code_step_by_step(name):
    """What test_show_the_code.py runs and checks for every widget is what the notebook runs."""
    widget = WIDGETS[name]
    values = widget.canonicalize({})
    script = widget.script(values)
    code = [c.source for c in notebook(widget, values).cells if c.cell_type == "code"]
    assert code[0].endswith(script.imports.strip()), "the first code cell: finding the course, then the imports"
    assert code[1:] == [step.code.rstrip() for step in script.all_steps()]
    for step in script.all_steps():
        assert step.code.rstrip() in script.text(), "the script runs the same steps"


@pytest.mark.slow
@pytest.mark.parametrize("name", KERNEL_RUNS)
def test_the_notebook_runs_on_a_fresh_kernel_and_prints_the_charts_numbers(name):
    widget = WIDGETS[name]
    values, data = widget_run(name)
    script = widget.script(values)
    nb = executed(name)
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert not errors, errors
    printed = printed_numbers(stdout(nb), [n.label for n in script.numbers])
    for shown in script.numbers:
        assert shown.label in printed, f"the notebook does not print {shown.label!r}"
        assert agree(shown.read(data), printed[shown.label], script.tolerance), (shown.label, printed[shown.label])


@pytest.mark.parametrize("name", NAMES)
def test_the_notebook_carries_the_settings_and_says_what_the_chart_shows(name):
    widget = WIDGETS[name]
    values = widget.canonicalize({})
    nb = notebook(widget, values)
    nbformat.validate(nb)
    assert nb.metadata["course"] == {"widget": name, "params": values}
    intro = nb.cells[0].source
    assert nb.cells[0].cell_type == "markdown" and widget.title in intro
    for p in widget.params:
        assert f"`{p.name}`" in intro, p.name
    kinds = [c.cell_type for c in nb.cells]
    assert kinds.count("markdown") >= 3 and kinds[-1] == "code"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "values = {" in code and "print(" in nb.cells[-1].source


def test_the_download_route_gives_the_notebook_of_the_links_settings(client):
    response = client.get("/widgets/warmup/notebook", params={"peak_lr": "0.01", "warmup": "10"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(MEDIA_TYPE)
    assert response.headers["content-disposition"] == 'attachment; filename="warmup.ipynb"'
    nb = nbformat.reads(response.text, as_version=4)
    nbformat.validate(nb)
    values = all_widgets()["warmup"].canonicalize({"peak_lr": "0.01", "warmup": "10"})
    assert nb.metadata["course"]["params"] == json.loads(json.dumps(values))
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "label='warmup 10'" in code and "peak_lr=0.01" in code


@pytest.mark.parametrize("query,field", [({"peak_lr": "abc"}, "peak_lr"), ({"warmup": "400"}, "warmup"),
                                         ({"warmup": "200", "steps": "100"}, "warmup")])
def test_the_download_route_refuses_bad_settings_as_the_widget_does(client, query, field):
    response = client.get("/widgets/warmup/notebook", params=query)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]
    assert client.get("/widgets/no-such-widget/notebook").status_code == 404


def test_the_result_links_the_notebook_beside_the_code(client):
    html = client.get("/widgets/lr-schedule", params={"family": "wsd"}).text
    if "notebook-link" not in html:  # not cached yet: the fragment names the stream; finish the run
        client.get("/api/widgets/lr-schedule", params={"family": "wsd"})
        html = client.get("/widgets/lr-schedule", params={"family": "wsd"}).text
    assert 'class="notebook-link"' in html and "/widgets/lr-schedule/notebook?" in html
    assert "family=wsd" in html.split("/widgets/lr-schedule/notebook?", 1)[1].split('"', 1)[0]
    assert 'download="lr-schedule.ipynb"' in html
