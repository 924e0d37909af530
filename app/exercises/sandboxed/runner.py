"""The grader that runs INSIDE the sandbox, next to the learner's module (never imported by
the web process or a worker: app/exercises/grading.py ships this file's text into the
sandbox, where it is the entry point).

It reads spec.json: {"module": the learner's module name, "suites": [[kind, file], ...],
"nonce": a token}. It imports the learner's module once, runs every `test_*` function of
each suite file in order (each is called with the module), and writes one JSON line per
test to file descriptor 3 as soon as the test ends, so a crash halfway still leaves the
results of the tests before it:

    {"nonce", "name", "kind", "passed", "message"}

The learner's code runs in this same process, so it could write lines of its own: the
result only ever counts for the learner who wrote the code, and it runs sandboxed anyway.
"""
import errno
import importlib
import json
import os
import runpy
import sys
import traceback
import warnings

NOT_YET = ("not implemented yet: replace the `raise NotImplementedError` in {where} with "
           "your code")


def where_in_learner(exc: BaseException, module_file: str) -> str:
    """ 'line N of yours.py' for the deepest frame in the learner's file, if any."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == module_file]
    if not frames:
        return ""
    last = frames[-1]
    return f" (line {last.lineno} of {os.path.basename(module_file)}: {(last.line or '').strip()})"


def is_out_of_memory(exc: BaseException) -> bool:
    """Python's MemoryError, an mmap refused with ENOMEM, or torch's allocator refusing: torch
    raises a RuntimeError ("DefaultCPUAllocator: can't allocate memory"), not a MemoryError."""
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)


def describe(exc: BaseException, module_file: str) -> str:
    if isinstance(exc, NotImplementedError):
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == module_file]
        name = frames[-1].name if frames else "the starter code"
        return NOT_YET.format(where=f"{name}()")
    if is_out_of_memory(exc):
        return (f"your code ran out of memory ({type(exc).__name__} at the sandbox's limit)"
                + where_in_learner(exc, module_file))
    if isinstance(exc, AssertionError):
        return str(exc) or "a check failed"
    explain = sys.modules.get("checks")
    hint = explain.explain_exception(exc) if explain is not None else ""
    return f"{type(exc).__name__}: {exc}{where_in_learner(exc, module_file)}" + (f". {hint}" if hint else "")


def emit(nonce: str, **fields) -> None:
    line = json.dumps({"nonce": nonce, **fields}) + "\n"
    os.write(3, line.encode())


def main() -> None:
    with open("spec.json", encoding="utf-8") as handle:
        spec = json.load(handle)
    run(spec, lambda **fields: emit(spec["nonce"], **fields))
    sys.stdout.flush()


def run(spec: dict, report) -> None:
    """Run the suites in the current directory on the learner's module; report(**row) each
    test's result. (The tests of this project call it in-process on trusted code.)"""
    module_file = os.path.abspath(spec["module"] + ".py")
    # the tests are loaded before the learner's code runs, and the hidden ones' file removed
    suites = [(kind, runpy.run_path(path, run_name=f"suite_{kind}")) for kind, path in spec["suites"]]
    for kind, path in spec["suites"]:
        if kind == "hidden":
            os.remove(path)
    try:
        learner = importlib.import_module(spec["module"])
        broken = None
    except BaseException as exc:  # a syntax error, an import that fails, NotImplementedError...
        learner = None
        if isinstance(exc, SyntaxError):
            broken = f"your code does not parse: {exc.msg} (line {exc.lineno})"
        else:
            broken = "importing your code failed: " + describe(exc, module_file)
    for kind, tests in suites:
        for name, test in tests.items():
            if not (name.startswith("test_") and callable(test)):
                continue
            if broken is not None:
                report(name=name, kind=kind, passed=False, message=broken)
                continue
            try:
                with warnings.catch_warnings():  # a warning is not a failure, whoever runs this
                    warnings.simplefilter("default")
                    test(learner)
            except BaseException as exc:  # SystemExit and KeyboardInterrupt are failures too
                report(name=name, kind=kind, passed=False, message=describe(exc, module_file))
            else:
                report(name=name, kind=kind, passed=True, message="")


if __name__ == "__main__":
    main()
