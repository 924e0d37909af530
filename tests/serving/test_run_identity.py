"""One run key (app/serving/keys.py) for the result cache, the checker's recorded runs and the
tests' shared runs: whatever changes a run's numbers changes its key.

The corpus and torch's thread count are the two inputs that live outside the widget's own
parameters and sources: changing either one must give another key (the thread count does
change some widgets' numbers in their last bits: keys.py's docstring has the measurement).
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

from app.serving.jobs import WidgetJobs
from app.serving.keys import code_version
from app.serving.worker.widget_task import run_widget
from app.settings import Settings
from app.tools.check.run_cache import RecordedRuns
from widgets.lab import runtime
from widgets.registry import all_widgets

WIDGET = all_widgets()["lr-schedule"]  # no training: cheap to run in a test


@pytest.fixture
def other_corpus(tmp_path):
    """The course's corpus with one character changed."""
    text = Settings().corpus_path.read_text(encoding="utf-8")
    path = tmp_path / "corpus.txt"
    path.write_text(("Y" if text[0] != "Y" else "Z") + text[1:], encoding="utf-8")
    return path


def job_of(settings: Settings) -> str:
    jobs = WidgetJobs(settings, engine=None, cache=None, code=code_version(settings.corpus_path))
    return jobs.key(WIDGET, WIDGET.canonicalize({}))


def test_another_corpus_is_another_key_in_the_result_cache(other_corpus):
    settings = Settings()
    assert code_version(other_corpus) != code_version(settings.corpus_path)
    assert job_of(dataclasses.replace(settings, corpus_path=other_corpus)) != job_of(settings)


def test_another_thread_count_is_another_key_in_the_result_cache():
    settings = Settings()
    assert job_of(dataclasses.replace(settings, torch_threads=2)) != job_of(settings)


def test_recorded_runs_follow_the_corpus_and_the_thread_count(tmp_path, other_corpus):
    values = WIDGET.canonicalize({})
    here = RecordedRuns(tmp_path).path(WIDGET, values)
    before = runtime.configure(corpus_path=other_corpus)
    try:
        assert RecordedRuns(tmp_path).path(WIDGET, values) != here
    finally:
        runtime.restore(before)
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        assert RecordedRuns(tmp_path).path(WIDGET, values) != here
    finally:
        torch.set_num_threads(threads)
    assert RecordedRuns(tmp_path).path(WIDGET, values) == here


def test_a_worker_on_another_corpus_refuses_the_job(other_corpus):
    """Its numbers would be filed under the web process's key: it says so instead."""
    values = WIDGET.canonicalize({})
    web_code = code_version(Settings().corpus_path)
    assert run_widget(WIDGET.name, values, web_code)["data"]  # the same corpus: it runs
    before = runtime.configure(corpus_path=other_corpus)
    try:
        with pytest.raises(RuntimeError, match="another corpus"):
            run_widget(WIDGET.name, values, web_code)
    finally:
        runtime.restore(before)
