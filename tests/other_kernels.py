"""Every test of a run-derived claim, run again with ATen's unvectorised kernels, in the background.

Why again: processors round floating-point arithmetic differently (so do ATen's kernel sets on
one processor), and training amplifies last-bit differences, so a claim must hold on the kernel
set furthest from the machine's own (tests/claims/test_claims_on_other_kernels.py says more).

Why in the background: it is by far the longest test (about eleven minutes here), and the suite
trains with one torch thread (tests/conftest.py), so one of CI's two cores is idle through most
of the suite. tests/conftest.py starts the rerun as soon as collection is done, at the lowest CPU
priority (nice 19: it takes the CPU the suite leaves, and slows no timing the suite checks), and
moves the test that reads its verdict to the end of the run.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile

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
TIMEOUT_S = 2400


def already_unvectorised() -> bool:
    return torch.backends.cpu.get_cpu_capability() == "DEFAULT"


class Rerun:
    """The rerun's process: its own session (stopped as a group), its output in a file."""

    def __init__(self) -> None:
        self.output = tempfile.TemporaryFile(mode="w+", prefix="other-kernels-")
        self.basetemp = tempfile.mkdtemp(prefix="other-kernels-")
        env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider",
             f"--basetemp={self.basetemp}", "-m", "not browser",
             *(f"--deselect={t}" for t in NOT_AGAIN), *RUN_CLAIM_TESTS],
            cwd=ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT, text=True,
            start_new_session=True, preexec_fn=lambda: os.nice(19))

    def verdict(self, timeout: float = TIMEOUT_S) -> tuple[int, str]:
        """(the rerun's exit code, the end of its output), once it has finished."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            code = -1
        self.output.seek(0)
        return code, self.output.read()[-6000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        shutil.rmtree(self.basetemp, ignore_errors=True)
