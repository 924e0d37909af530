""""Show the code": every widget's script runs on its own and prints the numbers the chart shows.

Each script is run once per session, in a fresh Python (a subprocess with a timeout, from the
repository root, as the script's header tells a learner to run it), and what it prints is
compared with compute's data at the same settings (tests/shared_runs.py), number by number
(widgets/script.py Shown: a label and where the number lives in the data). A script that runs
the functions compute runs prints the very same bits (tolerance 0); a hand-written loop (where
the loop is the lesson) states its relative tolerance, far below the margins the chapters'
claims leave, so the script shows what the claims say. Exit code 0 is not enough.
"""
from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from script_numbers import agree, printed_numbers
from shared_runs import widget_run
from widgets.registry import all_widgets

ROOT = Path(__file__).resolve().parents[2]
WIDGETS = all_widgets()
NAMES = sorted(WIDGETS)
TIMEOUT_S = 600


@lru_cache(maxsize=None)
def run_script(name: str, folder: str) -> str:
    """The default script's output: run once per session, in a fresh Python."""
    widget = WIDGETS[name]
    script = widget.script(widget.canonicalize({}))
    path = Path(folder) / script.file
    path.write_text(script.text())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the tests' device and thread count, as compute had
    done = subprocess.run([sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT_S, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="session")
def script_folder(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("scripts"))


@pytest.mark.parametrize("name", NAMES)
def test_the_script_prints_the_numbers_the_chart_shows(name, script_folder):
    widget = WIDGETS[name]
    values, data = widget_run(name)
    script = widget.script(values)
    assert script.numbers, "the script prints the chart's numbers"
    printed = printed_numbers(run_script(name, script_folder), [n.label for n in script.numbers])
    for shown in script.numbers:
        assert shown.label in printed, f"the script does not print {shown.label!r}"
        expected = shown.read(data)
        assert agree(expected, printed[shown.label], script.tolerance), (shown.label, expected, printed[shown.label])


@pytest.mark.parametrize("name", NAMES)
def test_the_script_carries_the_charts_settings(name):
    """Another setting, another script: the settings cell holds the canonical values."""
    widget = WIDGETS[name]
    values = widget.canonicalize({})
    script = widget.script(values)
    assert script.values == values and script.text().count("values = {") == 1
    compile(script.text(), script.file, "exec")  # valid Python
