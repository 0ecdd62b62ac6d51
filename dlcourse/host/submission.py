"""Host side: grade one submission in a throwaway course directory.

This is what a grading worker runs (on this machine or on a Dask worker
elsewhere). Everything it needs arrives in a :class:`Job` as bytes, and
everything it produces leaves in a :class:`Result`; no shared file system is
assumed. The throwaway course holds the course's nbgrader configuration, the
release version of the assignment, a gradebook that knows only this
assignment, and the student's files. nbgrader runs there as the grader; the
student's kernel runs in the sandbox (:mod:`dlcourse.host.sandbox`) and can write
only the copy of its own files. A wall-time and a memory limit on the whole
grading stop a hang or a memory bomb; the worker then kills every process the
grading started.
"""

import functools
import importlib.machinery
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from . import sandbox, watch

POLL_SECONDS = 0.25
# nbgrader spends 2.7 s of its 5 s start importing rfc3987_syntax, which jsonschema
# loads only to check "iri" formats that notebooks never use; the grader skips it.
NBGRADER_MAIN = ("import sys; sys.modules['rfc3987_syntax'] = None; "
                 "from nbgrader.apps.nbgraderapp import main; sys.exit(main())")


@dataclass(frozen=True)
class Limits:
    """How long and how much memory one submission may take."""
    wall_seconds: int = 600      # the whole notebook, start to end
    memory_mb: int = 6000        # the kernel and nbgrader together (resident memory)
    cell_seconds: int = 300      # one cell (nbgrader's Execute.timeout)
    sandboxed: bool = True       # False only when the instructor passes --unsafe-no-sandbox


@dataclass(frozen=True)
class Job:
    """Everything needed to grade one student's submission of one assignment."""
    assignment: str
    student: str
    config: bytes                  # the course's nbgrader_config.py
    gradebook: bytes               # a gradebook.db that knows only this assignment
    release: dict                  # path relative to the assignment folder -> bytes
    submission: dict               # path relative to the submission folder -> bytes
    limits: Limits = Limits()


@dataclass
class Result:
    """What grading one submission produced."""
    student: str
    notebooks: dict = field(default_factory=dict)   # notebook name -> autograded .ipynb text
    error: str | None = None
    seconds: float = 0.0
    peak_mb: float = 0.0
    worker: str = ""
    machine_fault: bool = False   # the grading machine failed, not the submission: stop grading
    flags: list = field(default_factory=list)   # what the submission tried, for the instructor's review


# Files Python would import from the notebook's folder in place of the course's
# own modules (a submitted dlcourse/grading.py, keras.py, ...).
IMPORTABLE_SUFFIXES = tuple(importlib.machinery.all_suffixes()) + (".pth",)


def importable(name):
    """True when a submitted file (a path relative to the submission) is one
    Python could import as a module or package."""
    return name.endswith(IMPORTABLE_SUFFIXES)


def describe_attempt(attempt, course):
    """Return a review reason for one attempt the watch reported; a path in
    the throwaway ``course`` is shown as ``<course>/...``."""
    what = {"read": "read", "write": "write", "change": "change or remove"}.get(attempt["action"], attempt["action"])
    path = str(attempt["path"]).replace(str(course), "<course>")
    refused = " (refused)" if attempt.get("refused") else ""
    return f"tried to {what} {path}, outside its own folder{refused}"


def _write_tree(root, files):
    root.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        path = (root / relative).resolve()
        if root.resolve() not in path.parents:
            raise ValueError(f"refusing to write {relative!r} outside {root}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def process_tree(pid):
    """Return the process ``pid`` and all its descendants ([] if it has ended)."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss_bytes(processes):
    """Return the resident memory of these processes together, in bytes
    (a process that has ended counts 0)."""
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total


def kill(processes, timeout=10):
    """Kill ``processes`` and wait until none runs. A killed process that is
    not our child stays a zombie until init reaps it (here up to 1 s later);
    it runs no code, so it counts as ended."""
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass
    deadline = time.monotonic() + timeout
    while any(map(_running, processes)) and time.monotonic() < deadline:
        time.sleep(0.01)


def _running(process):
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _supervise(process, limits):
    """Wait for ``process`` within the limits; return (error or None, peak MB).
    Kills the whole process tree when a limit is hit, and always at the end."""
    start, peak, error = time.monotonic(), 0.0, None
    known = {}
    while process.poll() is None:
        tree = process_tree(process.pid)
        known.update({p.pid: p for p in tree})
        peak = max(peak, rss_bytes(tree) / 2**20)
        if peak > limits.memory_mb:
            error = (f"The submission used more than the memory limit of {limits.memory_mb} MB, so its "
                     "grading was stopped and it got no autograded points. Fix: check for a model or an array "
                     "far bigger than the task needs (the limit is --memory-mb).")
        elif time.monotonic() - start > limits.wall_seconds:
            error = (f"The submission ran longer than the wall-time limit of {limits.wall_seconds} s for the "
                     "whole notebook, so its grading was stopped and it got no autograded points. Fix: check "
                     "for an endless loop or training far longer than asked (the limit is --wall-seconds).")
        if error:
            break
        time.sleep(POLL_SECONDS)
    kill(list(known.values()) + process_tree(process.pid))
    process.wait()
    return error, peak


# nbgrader's own configuration for the grading run (on JUPYTER_CONFIG_DIR; the
# course's nbgrader_config.py is read after it): name each cell in the log as
# it starts, so that a kernel that dies is blamed on the cell that killed it.
GRADER_CONFIG = "from dlcourse.host.submission import announce_cell\nc.Execute.on_cell_execute = announce_cell\n"
CELL_MARK = "[dlcourse] running cell"


def announce_cell(cell, cell_index, **kwargs):
    """nbclient's hook before a cell runs: print which cell it is, and the
    first line of a student's cell (never of a test, which may be hidden)."""
    meta = cell.metadata.get("nbgrader", {})
    line = f"{CELL_MARK} {cell_index + 1}" + (f" ({meta['grade_id']})" if meta.get("grade_id") else "")
    if not meta.get("locked") and cell.source.strip():
        line += f", which starts `{cell.source.strip().splitlines()[0][:80]}`"
    print(line, flush=True)


def _last_cell(lines):
    started = [line[len(CELL_MARK):].strip() for line in lines if line.startswith(CELL_MARK)]
    return f"cell {started[-1]}" if started else "a cell"


def failure(output):
    """Return nbgrader's error lines from a failed run's output, or its last
    lines, after a plain explanation when the kernel died (naming the cell)
    or never started."""
    lines = output.splitlines()
    errors = [l for l in lines if "| ERROR]" in l or re.match(r"^\w*(Error|Exception):", l.strip())]
    text = "\n".join((errors or lines)[-8:])
    if "Kernel died before replying to kernel_info" in text:
        text = ("The grading machine could not start a kernel for this submission, so no code of it ran and it "
                "was not graded; this is not the student's fault. Fix: grade it again (`python -m dlcourse "
                "autograde ASSIGNMENT --student STUDENT --force`); if it happens again, the nbgrader log below "
                "says why.\n" + text)
    elif "Timeout waiting for execute reply" in text:
        text = ("A cell ran past the cell time limit and the kernel did not stop when interrupted, so the "
                "submission could not be autograded. Fix: look for an endless loop that ignores interrupts "
                "(the limit is --cell-seconds).\n" + text)
    elif "Kernel died" in text or "DeadKernelError" in text:
        text = (f"The kernel died while running {_last_cell(lines)} (the code exited the process or crashed), so "
                "the submission could not be autograded; the submitted file is unchanged. Grade it by hand in the "
                "formgrader, or ask the student to fix it and resubmit.\n" + text)
    return text


def nbgrader_environment(**extra):
    """Return the environment to run nbgrader in: this one, with this Python's
    ``bin/`` first on PATH (nbgrader needs its ``alembic``), plus ``extra``."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", **extra)
    # Under pytest, ipykernel does not capture a kernel's stderr; graded kernels
    # must capture it as they do for students, so the variable never reaches them.
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def worker_name():
    """Return the name of the Dask worker running this, or the host name."""
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return os.uname().nodename


def nbgrader_command(job, runtime):
    """Return the nbgrader command that autogrades the job in its throwaway course."""
    return [sys.executable, "-c", NBGRADER_MAIN, "autograde", job.assignment, "--student", job.student, "--force",
            "--CourseDirectory.source_directory=release",
            f"--Execute.kernel_name={sandbox.KERNEL_NAME}",
            # The kernel has no network: the grader reaches it through Unix sockets in `runtime`.
            "--KernelManager.transport=ipc", f"--KernelManager.ip={runtime / 'kernel'}",
            f"--Execute.timeout={job.limits.cell_seconds}",
            # Once the last cell has run, every output is in: stop the kernel at once instead of
            # waiting 2.3 s for TensorFlow to tear down (and for any exit code of the student's).
            "--Execute.shutdown_kernel=immediate"]


@functools.cache
def check_sandbox():
    """Check once per process (a grading worker) that a sandboxed kernel
    starts here; return None.

    Raises:
        SandboxUnavailable: as :func:`sandbox.check_kernel_starts` (not
            cached: the next call checks again).
    """
    sandbox.require_bwrap()
    sandbox.check_kernel_starts()


def grade(job):
    """Grade one submission in a throwaway course; return its Result (with
    ``error`` set, never raised, when it could not be graded; with
    ``machine_fault`` too when the sandbox cannot run a kernel here)."""
    started = time.monotonic()
    if job.limits.sandboxed:
        try:
            check_sandbox()
        except sandbox.SandboxUnavailable as exc:
            return Result(job.student, error=str(exc), machine_fault=True, seconds=time.monotonic() - started,
                          worker=worker_name())
    work = Path(tempfile.mkdtemp(prefix=f"dlcourse-{job.student}-"))
    try:
        course, runtime, home, jupyter = (work / name for name in ("course", "runtime", "home", "jupyter"))
        _write_tree(course, {"nbgrader_config.py": job.config, "gradebook.db": job.gradebook})
        _write_tree(jupyter, {"nbgrader_config.py": GRADER_CONFIG.encode()})
        _write_tree(course / "release" / job.assignment, job.release)
        _write_tree(course / "submitted" / job.student / job.assignment, job.submission)
        # The kernel runs in the notebook's folder, but sees a scratch copy of the
        # student's files there: nbgrader (outside the sandbox) writes its output
        # into the real folder, which no student code ever touched (a symlink
        # left there would otherwise make it write anywhere on this machine).
        student_files = course / "autograded" / job.student / job.assignment
        scratch = work / "scratch"
        shadowing = sorted(name for name in job.submission if importable(name))
        others = {name: data for name, data in {**job.submission, **job.release}.items()
                  if not name.endswith(".ipynb") and name not in shadowing}
        _write_tree(scratch, others)
        for folder in (runtime, home / "tmp", student_files):
            folder.mkdir(parents=True, exist_ok=True)
        writable = [(scratch, student_files), (runtime, runtime), (home, home)]
        sandbox.write_kernelspec(jupyter, writable, home, job.limits.sandboxed)

        env = nbgrader_environment(JUPYTER_PATH=str(jupyter), JUPYTER_CONFIG_DIR=str(jupyter),
                                   JUPYTER_RUNTIME_DIR=str(runtime), TMPDIR=str(runtime))
        log = work / "nbgrader.log"
        with open(log, "a") as out:  # appending: a kernel's write cannot overwrite the watch's lines
            process = subprocess.Popen(nbgrader_command(job, runtime), cwd=course, env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            error, peak = _supervise(process, job.limits)
        output = log.read_text(errors="replace")
        if error is None and process.returncode != 0:
            error = failure(output)
        notebooks = {} if error else {p.stem: p.read_text() for p in sorted(student_files.glob("*.ipynb"))}
        if error is None and not notebooks:
            error = "nbgrader wrote no autograded notebook:\n" + failure(output)
        flags = [f"submitted {name}, a Python module the kernel would import in place of the course's own "
                 "(it was not given to the kernel)" for name in shadowing]
        flags += [describe_attempt(attempt, course) for attempt in watch.read_attempts(output)]
        return Result(job.student, notebooks, error, seconds=time.monotonic() - started, peak_mb=peak,
                      worker=worker_name(), flags=flags)
    except sandbox.SandboxUnavailable as exc:
        return Result(job.student, error=str(exc), machine_fault=True, seconds=time.monotonic() - started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
