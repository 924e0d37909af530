"""Run untrusted Python in a fresh, locked-down process, and give back what it printed.

    outcome = run_python(files, entry="grader.py", limits=Limits(), mode="auto")
    outcome.returncode, outcome.stdout, outcome.result (what the entry wrote to fd 3), ...

Each call starts a new process under bubblewrap (`bwrap`), as root here or on a server:
  - no network, no IPC, a new PID namespace (the process is PID 1 of its own world, and
    every process it starts dies with it), a new session (no terminal to inject into);
  - a filesystem of read-only binds of only what Python needs (the interpreter's prefix,
    the virtual environment, /usr) and a private tmpfs at /tmp, the one writable place:
    no /etc, no home directory, no repository (so no progress database to read);
  - then the launcher (SANDBOX_LAUNCHER, run with `python -I`) drops to uid/gid 65534 for
    real (the kernel ignores RLIMIT_NPROC for root, even root inside a user namespace), and
    sets RLIMIT_CPU, RLIMIT_AS, RLIMIT_NPROC, RLIMIT_FSIZE and RLIMIT_CORE before running
    any of the untrusted code;
  - here, the host side: stdout and stderr read up to `output_bytes` (the rest is read and
    thrown away, so a flood never blocks or fills memory), a wall-clock limit, and at the end
    the whole process group killed, always.

Where bwrap cannot run (mode "rlimits"), the launcher runs with the limits alone: no
namespaces, no read-only filesystem. app/exercises/grading.py allows that only for a server
listening on loopback (a learner's own machine), unless COURSE_SANDBOX_UNSAFE_OK=1.

This module imports nothing heavy: a Dask worker calls it, and it never imports the code it
runs.
"""
from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

NOBODY = 65534
SANDBOX_TMP = "/tmp"
LAUNCHER_PATH = "/sandbox/launch.py"

# Runs inside the sandbox with `python -I` (no site dir of the user, no PYTHON* variables).
# Reads {"limits", "files", "entry"} as JSON on stdin, drops privileges, sets the limits,
# writes the files into a fresh directory under /tmp and runs the entry there. The entry
# may write its result to fd 3 (a pipe of its own, separate from the learner's prints).
SANDBOX_LAUNCHER = r'''
import json, os, resource, runpy, sys
payload = json.loads(sys.stdin.read())
sys.stdin.close()
if payload["result_fd"] != 3:  # the entry reports on fd 3
    os.dup2(payload["result_fd"], 3)
    os.close(payload["result_fd"])
if os.getuid() == 0 and payload["drop_to"] is not None:
    os.setgroups([])
    os.setgid(payload["drop_to"])
    os.setuid(payload["drop_to"])
limits = payload["limits"]
for name, value in (("RLIMIT_CPU", limits["cpu_s"]), ("RLIMIT_AS", limits["memory_bytes"]),
                    ("RLIMIT_NPROC", limits["processes"]), ("RLIMIT_FSIZE", limits["file_bytes"]),
                    ("RLIMIT_CORE", 0)):
    resource.setrlimit(getattr(resource, name), (value, value))
work = os.path.join(payload["tmp"], "work")
os.makedirs(work, exist_ok=True)
for name, text in payload["files"].items():
    with open(os.path.join(work, name), "w", encoding="utf-8") as handle:
        handle.write(text)
os.chdir(work)
sys.path.insert(0, work)
sys.argv = [payload["entry"]]
runpy.run_path(os.path.join(work, payload["entry"]), run_name="__main__")
'''


class SandboxUnavailable(RuntimeError):
    """No safe way to run the code here (bwrap missing or not allowed to make namespaces)."""


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 10  # CPU seconds (RLIMIT_CPU: SIGXCPU, then SIGKILL)
    memory_bytes: int = 2 * 1024**3  # address space (torch alone maps about 1 GiB)
    processes: int = 16  # processes and threads of uid 65534 (RLIMIT_NPROC)
    file_bytes: int = 16 * 1024**2  # the largest file it may write (RLIMIT_FSIZE)
    output_bytes: int = 64 * 1024  # stdout and stderr each, kept; the rest is discarded
    result_bytes: int = 1024**2  # what the entry may report on fd 3
    wall_s: float = 30.0  # wall clock, from start to kill


@dataclass
class Outcome:
    returncode: int | None
    stdout: str
    stderr: str
    result: str  # what the entry wrote to fd 3
    wall_time_s: float
    timed_out: bool = False
    truncated: bool = False  # stdout or stderr went past output_bytes
    cpu_exceeded: bool = False  # all its processes together used more than cpu_s
    signal: str | None = None  # the signal that ended it, by name (SIGKILL, SIGXCPU, ...)
    mode: str = "bwrap"
    limits: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def python_executable() -> str:
    """The venv's interpreter (symlinks kept: the venv's pyvenv.cfg is found through it)."""
    return str(Path(sys.prefix) / "bin" / "python") if sys.prefix != sys.base_prefix else sys.executable


def _bind_dirs() -> list[str]:
    """What Python needs to start: its prefix, the venv, /usr (libc, the loader)."""
    wanted = {str(Path(sys.base_prefix).resolve()), str(Path(sys.prefix)), "/usr"}
    real_exe = str(Path(python_executable()).resolve())
    if not any(real_exe.startswith(d + "/") for d in wanted):
        wanted.add(str(Path(real_exe).parent))
    # drop any dir inside another one
    return sorted(d for d in wanted if not any(d != o and d.startswith(o + "/") for o in wanted))


def _parents(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]


def bwrap_command(launcher_fd: int) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: run the set-up (make setup)")
    command = [bwrap, "--die-with-parent", "--new-session",
               "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if os.getuid() == 0:
        # no user namespace: the launcher becomes uid 65534 for real, so RLIMIT_NPROC counts
        command += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        command += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    # the private tmpfs first: a checkout under /tmp is then bound on top of it, not hidden by it
    command += ["--perms", "1777", "--tmpfs", SANDBOX_TMP]
    made: set[str] = {SANDBOX_TMP}
    for directory in _bind_dirs():
        for parent in _parents(directory):
            if parent not in made and parent != "/usr":
                command += ["--perms", "0755", "--dir", parent]  # not the source's 0700 (/root)
                made.add(parent)
        command += ["--ro-bind", directory, directory]
    for link in ("lib", "lib64", "bin", "sbin"):
        if Path("/usr", link).is_dir() and Path("/" + link).is_symlink():
            command += ["--symlink", f"usr/{link}", f"/{link}"]
        elif Path("/" + link).is_dir():
            command += ["--ro-bind", "/" + link, "/" + link]
    command += ["--proc", "/proc", "--dev", "/dev",
                "--ro-bind-data", str(launcher_fd), LAUNCHER_PATH,  # this pipe carries the launcher's text
                "--chdir", SANDBOX_TMP, "--clearenv",
                "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", SANDBOX_TMP,
                "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "MKL_NUM_THREADS", "1",
                "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "PYTHONHASHSEED", "0",
                python_executable(), "-I", "-B", LAUNCHER_PATH]
    return command


@lru_cache(maxsize=1)
def bwrap_works() -> tuple[bool, str]:
    """(whether a bwrap sandbox starts here, why not)."""
    try:
        outcome = _run(["bwrap"], {"probe.py": "print('ok')"}, "probe.py",
                       Limits(cpu_s=5, wall_s=20), "bwrap")
    except (SandboxUnavailable, OSError) as exc:
        return False, str(exc)
    if outcome.returncode == 0 and outcome.stdout.strip() == "ok":
        return True, ""
    return False, (outcome.stderr or outcome.stdout or f"exit {outcome.returncode}").strip()[:300]


def run_python(files: dict[str, str], entry: str, limits: Limits = Limits(), mode: str = "bwrap",
               should_stop=None, on_line=None) -> Outcome:
    """Run `entry` (one of `files`) in a sandbox (mode "bwrap") or under limits alone
    ("rlimits"). `should_stop()` is polled; when it says True the run is killed.
    `on_line(text)` is called with each complete line the entry writes to fd 3, as it comes."""
    if mode == "bwrap":
        ok, why = bwrap_works()
        if not ok:
            raise SandboxUnavailable(f"bubblewrap cannot run here: {why}")
    elif mode != "rlimits":
        raise ValueError(f"sandbox mode {mode!r}: expected bwrap or rlimits")
    return _run(["bwrap"] if mode == "bwrap" else [], files, entry, limits, mode, should_stop, on_line)


def _run(kind: list[str], files, entry, limits: Limits, mode: str, should_stop=None, on_line=None) -> Outcome:
    payload = {"limits": asdict(limits), "files": files, "entry": entry,
               "drop_to": NOBODY, "tmp": SANDBOX_TMP}
    launcher_r, launcher_w = os.pipe()
    result_r, result_w = os.pipe()
    payload["result_fd"] = result_w  # inherited as it is (no preexec_fn: workers have threads)
    passed = [result_w]
    if kind:
        command = bwrap_command(launcher_r)
        passed.append(launcher_r)
    else:  # limits alone: a private temporary directory, no privilege change
        import tempfile

        tmp = tempfile.mkdtemp(prefix="course-sandbox-")
        payload["tmp"], payload["drop_to"] = tmp, None
        script = Path(tmp) / "launch.py"
        script.write_text(SANDBOX_LAUNCHER)
        command = [python_executable(), "-I", "-B", str(script)]
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=tuple(passed), start_new_session=True,
            env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "LANG": "C.UTF-8"}
            if not kind else None)
    finally:
        os.close(result_w)
    os.close(launcher_r)
    with os.fdopen(launcher_w, "w") as handle:  # small: fits the pipe buffer
        if kind:
            handle.write(SANDBOX_LAUNCHER)
    try:
        process.stdin.write(json.dumps(payload).encode())
        process.stdin.close()
    except BrokenPipeError:
        pass
    try:
        outputs, timed_out, truncated, cpu_exceeded = _collect(process, result_r, limits, started, should_stop, on_line)
    finally:  # always, even when a callback raised (a cancelled job)
        _kill_group(process, sandboxed=bool(kind))
        returncode = process.wait()
        for stream in (process.stdout, process.stderr):
            stream.close()
        if not kind:
            shutil.rmtree(payload["tmp"], ignore_errors=True)
    stdout, stderr, result = outputs
    truncated = truncated or False
    signal_name = None
    if returncode is not None and returncode < 0:
        signal_name = signal.Signals(-returncode).name
    elif returncode is not None and returncode > 128:  # bwrap's PID 1 reports 128 + signal
        try:
            signal_name = signal.Signals(returncode - 128).name
        except ValueError:
            pass
    return Outcome(returncode=returncode, stdout=stdout, stderr=stderr, result=result,
                   wall_time_s=round(time.monotonic() - started, 3), timed_out=timed_out,
                   truncated=truncated, signal=signal_name, mode=mode, limits=asdict(limits),
                   cpu_exceeded=cpu_exceeded)


def _collect(process, result_fd: int, limits: Limits, started: float, should_stop, on_line=None):
    """Read stdout, stderr and fd 3 until all close, the wall clock runs out or should_stop."""
    selector = selectors.DefaultSelector()
    caps = {process.stdout.fileno(): limits.output_bytes, process.stderr.fileno(): limits.output_bytes,
            result_fd: limits.result_bytes}
    kept = {fd: bytearray() for fd in caps}
    for fd in caps:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    timed_out = truncated = cpu_exceeded = False
    checked = time.monotonic()
    try:
        while selector.get_map():
            left = limits.wall_s - (time.monotonic() - started)
            if left <= 0:
                timed_out = True
                break
            if time.monotonic() - checked > 0.25:  # RLIMIT_CPU is per process: bound the sum too
                checked = time.monotonic()
                if tree_cpu_seconds(process.pid) > limits.cpu_s * 1.5:
                    cpu_exceeded = True
                    break
            if should_stop is not None and should_stop():
                break
            for key, _ in selector.select(timeout=min(0.2, left)):
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                room = caps[key.fd] - len(kept[key.fd])
                if len(chunk) > room and key.fd != result_fd:
                    truncated = True
                if on_line is not None and key.fd == result_fd:
                    before = kept[key.fd].count(b"\n")
                    kept[key.fd] += chunk[:max(0, room)]
                    for line in bytes(kept[key.fd]).split(b"\n")[before:-1]:
                        on_line(line.decode("utf-8", "replace"))
                else:
                    kept[key.fd] += chunk[:max(0, room)]
    finally:
        selector.close()
        os.close(result_fd)
    decode = lambda data: bytes(data).decode("utf-8", "replace")  # noqa: E731
    texts = (decode(kept[process.stdout.fileno()]), decode(kept[process.stderr.fileno()]),
             decode(kept[result_fd]))
    if truncated:
        texts = (texts[0] + f"\n[output cut at {limits.output_bytes} bytes]", texts[1], texts[2])
    return texts, timed_out, truncated, cpu_exceeded


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_table() -> tuple[dict[int, list[int]], dict[int, float]]:
    """({ppid: [child pids]}, {pid: CPU seconds with its reaped children}) for every process."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return children, times
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        times[pid] = sum(int(v) for v in fields[11:15]) / _TICKS  # utime stime cutime cstime
    return children, times


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used by `root` and every process below it (with their reaped children)."""
    children, times = _process_table()
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack.extend(children.get(pid, ()))
    return total


def _kill_group(process, sandboxed: bool) -> None:
    """Kill the sandbox, and return only once every process in it is gone.

    Under bwrap the sandbox's PID 1 is bwrap's child: killing it first makes the kernel kill
    the rest of the PID namespace, and PID 1 is not reaped (by bwrap, which then exits) until
    all of them have been. Killing bwrap first would return at once while the namespace was
    still dying, its PID 1 handed to the host's init. Then the session, for anything else."""
    if sandboxed:
        for pid in _process_table()[0].get(process.pid, ()):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
