"""The claims about real runs must hold on any CPU, not only on the one CI happens to use.

Processors round floating-point arithmetic differently (so do ATen's kernel sets on one
processor), and training amplifies last-bit differences: a sentence that quotes the digits
of a run that magnifies them is true on one machine only. This suite has been bitten by
exactly that (see content/AUTHORING.md, "Claims about runs"). Here every test that checks a
run-derived claim runs again, in a fresh process, with ATen's unvectorised kernels: the
kernel set furthest from any real machine's own.

The rerun shares each run between its tests as the suite does (tests/shared_runs.py): its runs
are recorded under their own kernel set's key, so none of the vectorised runs can answer for them.
Which tests run again, and why the rerun starts in the background when collection finishes (this
test, the last of the session, reads its verdict): tests/other_kernels.py.
"""
from __future__ import annotations

import pytest

from other_kernels import SHARED_FOLDER, STASH, Rerun, already_unvectorised, rerun_folder, verdict_in


@pytest.mark.slow
def test_run_claims_also_hold_with_unvectorised_kernels(request):
    if already_unvectorised():
        pytest.skip("this process already uses the unvectorised kernels: the suite itself is that check")
    # started by tests/conftest.py (this test then runs last): by this process when collection
    # finished, or by xdist's controller, writing into the folder it gave this worker; or now
    workerinput = getattr(request.config, "workerinput", {})
    if SHARED_FOLDER in workerinput:
        code, output = verdict_in(rerun_folder(workerinput[SHARED_FOLDER]))
    else:
        code, output = (request.config.stash.get(STASH, None) or Rerun()).verdict()
    assert code == 0, f"with ATEN_CPU_CAPABILITY=default (exit {code}):\n{output}"
