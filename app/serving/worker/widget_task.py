"""One widget computation as the engine runs it, on a Dask worker.

The worker does every heavy part: the training, the partial figures and their deltas (only
new points travel, see app/serving/worker/figure_delta.py), the final figure and the provenance: which
machine computed it, when, on what device and CPU kernel set, in how much time.
"""
from __future__ import annotations

import time

from app.serving.worker import figure_delta
from app.serving.worker import job_context
from app.serving.keys import local_profile
from widgets.lab import runtime, speed


def run_widget(name: str, values: dict, code: str, torch_threads: int = 1) -> dict:
    """The finished item {widget, params, data, figure, provenance} for canonical `values`.

    `code` is the web process's code version: a worker running other widget sources, or
    training on another corpus, would compute numbers the cache would then file under the
    wrong key, so it refuses."""
    here = job_context.code_version_here(runtime.current().corpus_path)
    if code != here:
        raise RuntimeError(f"this worker runs other widget code or another corpus ({here}) than the "
                           f"web process ({code}): start it from the same checkout and settings")
    from widgets.registry import all_widgets

    job_context.use_torch_threads(torch_threads)
    widget = all_widgets()[name]
    started, cpu_started = time.perf_counter(), time.thread_time()
    sent: dict | None = None
    reporting_s = 0.0  # spent drawing and sending progress: not training, kept out of the meters

    def progress(partial: dict, done: int, total: int) -> None:
        nonlocal sent, reporting_s
        began = time.perf_counter()
        if not job_context.wanted():  # before drawing anything for no one
            raise job_context.JobCancelled(name)
        figure = widget.figure(values, partial)
        job_context.report({"done": done, "total": total, **(figure_delta.diff(sent, figure) or {})})
        sent = figure
        reporting_s += time.perf_counter() - began

    try:
        with speed.metering() as meter:
            data = widget.compute(values, progress)
        training_s = time.perf_counter() - started - reporting_s
        figure = widget.figure(values, data)
    finally:
        job_context.finished()
    profile = local_profile(runtime.default_device())
    device = str(data.get("device") or "cpu") if isinstance(data, dict) else "cpu"
    provenance = {
        "seed": widget.seed,
        # the device that really ran it, as the widget reports it (every trainer does); a widget
        # that names none computed on the worker's CPU (schedules, counts, a 2-D valley)
        "device": device,
        "torch": profile.torch,
        "cpu": profile.cpu,
        "profile": profile.token,
        "host": job_context.host(),
        "computed_at": job_context.utc_now(),
        "wall_time_s": round(time.perf_counter() - started, 3),
        "cpu_time_s": round(time.thread_time() - cpu_started, 3),
        "code_version": code,
        # tokens/s, GFLOP/s and their share of this worker's matmul rate (and of a GPU's peak)
        "speed": speed.meters(meter, training_s, device),
        "cached": False,
    }
    return {"widget": name, "params": values, "data": data, "figure": figure, "provenance": provenance}
