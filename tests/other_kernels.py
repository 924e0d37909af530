"""Every test of a run-derived claim, run again with ATen's unvectorised kernels, in the background.

Why again: processors round floating-point arithmetic differently (so do ATen's kernel sets on
one processor), and training amplifies last-bit differences, so a claim must hold on the kernel
set furthest from the machine's own (tests/claims/test_claims_on_other_kernels.py says more).

Why in the background: it is by far the longest test (about eleven minutes of one core here),
and it needs a process of its own (the kernel set is chosen when torch loads). tests/conftest.py
starts it as soon as the tests are collected, at the lowest CPU priority (nice 19: it takes the
CPU the suite leaves, and slows no timing the suite checks), and moves the test that reads its
verdict to the end of the run. Under pytest-xdist (make test), xdist's controller starts it once,
writing its output and exit code into `rerun_folder` of the folder it shares with every worker
(SHARED_FOLDER in the worker's workerinput), and the worker that runs the verdict test waits for
them there.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import torch

from app.settings import ROOT

RUN_CLAIM_TESTS = [
    "tests/claims/test_chapter_claims_ch01_02_04_05_06.py",
    "tests/claims/test_chapter_claims_ch07_08_09_10.py",
    "tests/claims/test_claims_over_five_seeds.py",
    "tests/claims/test_claims_over_five_seeds_lab.py",
    "tests/claims/test_claims_over_five_seeds_paired.py",
    "tests/claims/test_predict.py::test_every_predict_question_is_true_of_the_real_run",
    "tests/claims/test_predict_variants.py::test_every_variant_has_one_answer_on_its_real_run",
    "tests/widgets/test_widget_warmup.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "widgets").glob("test_widget_*.py")
            if p.name != "test_widget_warmup.py"),
]
# Itself a comparison of the two kernel sets (in a subprocess): the suite's own pass made it.
NOT_AGAIN = ["tests/widgets/test_widget_warmup.py::"
             "test_chapter_claim_the_warmup_run_is_the_same_to_four_decimals_on_another_kernel_set"]
VERDICT_TEST = "tests/claims/test_claims_on_other_kernels.py::test_run_claims_also_hold_with_unvectorised_kernels"
STASH = pytest.StashKey["Rerun"]()
SHARED_FOLDER = "course_shared_folder"  # xdist: the key, in a worker's workerinput, of the folder its controller shares
OUTPUT, EXIT_CODE = "output.txt", "exit-code"
TIMEOUT_S = 2400


def already_unvectorised() -> bool:
    return torch.backends.cpu.get_cpu_capability() == "DEFAULT"


class Rerun:
    """The rerun's process: its own session (stopped as a group), its output and then its exit
    code in `folder` (where the xdist workers read them: the controller starts the rerun)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="other-kernels-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.output = open(self.folder / OUTPUT, "w")
        env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
        env.pop("PYTEST_ADDOPTS", None)  # the suite's own options (-n, --durations) are not the rerun's
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider", "-p", "no:xdist",
             f"--basetemp={self.folder / 'basetemp'}", "-m", "not browser",
             *(f"--deselect={t}" for t in NOT_AGAIN), *RUN_CLAIM_TESTS],
            cwd=ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT, text=True,
            start_new_session=True, preexec_fn=lambda: os.nice(19))
        threading.Thread(target=self._record_exit, daemon=True).start()

    def _record_exit(self) -> None:
        code = self.process.wait()
        aside = self.folder / f"{EXIT_CODE}.tmp"
        try:
            aside.write_text(str(code))
            os.replace(aside, self.folder / EXIT_CODE)
        except OSError:  # stop() has removed the folder: nobody is waiting for the verdict
            pass

    def verdict(self, timeout: float = TIMEOUT_S) -> tuple[int, str]:
        """(the rerun's exit code, the end of its output), once it has finished."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill()  # its output is read below; the folder goes at stop()
        return verdict_in(self.folder, timeout=10)

    def stop(self) -> None:
        self._kill()
        self.output.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _kill(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()


def rerun_folder(shared: str | Path) -> Path:
    return Path(shared) / "other-kernels"


def verdict_in(folder: Path, timeout: float = TIMEOUT_S) -> tuple[int, str]:
    """(exit code, the end of the output) of the rerun writing into `folder`, waited for; exit
    code -1 when it has not finished within `timeout` seconds (or was stopped)."""
    deadline = time.monotonic() + timeout
    code_file, output_file = Path(folder) / EXIT_CODE, Path(folder) / OUTPUT
    while not code_file.exists() and time.monotonic() < deadline:
        time.sleep(1.0)
    try:
        code = int(code_file.read_text())
    except (OSError, ValueError):
        code = -1
    try:
        output = output_file.read_text()[-6000:]
    except OSError:
        output = f"no output in {folder}"
    return code, output
