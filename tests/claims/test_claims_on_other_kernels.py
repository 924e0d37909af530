"""The claims about real runs must hold on any CPU, not only on the one CI happens to use.

Processors round floating-point arithmetic differently (so do ATen's kernel sets on one
processor), and training amplifies last-bit differences: a sentence that quotes the digits
of a run that magnifies them is true on one machine only. This suite has been bitten by
exactly that (see content/AUTHORING.md, "Claims about runs"). Here every test that checks a
run-derived claim runs again, in a fresh process, with ATen's unvectorised kernels: the
kernel set furthest from any real machine's own.

The rerun shares each run between its tests as the suite does (tests/shared_runs.py): its runs
are recorded under their own kernel set's key, so none of the vectorised runs can answer for them.
"""
from __future__ import annotations

import os
import subprocess
import sys

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


@pytest.mark.slow
def test_run_claims_also_hold_with_unvectorised_kernels():
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("this process already uses the unvectorised kernels: the suite itself is that check")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider",
                           "-m", "not browser", *(f"--deselect={t}" for t in NOT_AGAIN), *RUN_CLAIM_TESTS],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"with ATEN_CPU_CAPABILITY=default:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
