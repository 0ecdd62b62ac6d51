"""Host side: grade one submission in a throwaway course directory.

This is what a grading worker runs (on this machine or on a Dask worker
elsewhere). Everything it needs arrives in a :class:`Job` as bytes, and
everything it produces leaves in a :class:`SubmissionResult`; no shared file system is
assumed. The throwaway course holds the course's nbgrader configuration, the
release version of the assignment, a gradebook that knows only this
assignment, and the student's files. nbgrader runs there as the grader; the
student's kernel runs in the sandbox (:mod:`dlcourse.host.grading.sandbox`) and can write
only the copy of its own files, and its test cells only gather the student's
answers as data; the worker's judge (:mod:`dlcourse.host.grading.judge`), which never
runs student code, decides every test cell. A wall-time and a memory limit on
the whole grading stop a hang or a memory bomb; the worker then kills every
process the grading started.
"""

import functools
import importlib.machinery
import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from . import capped, decoys, judge, prelaunch, sandbox, watch
from .. import processes
from ..course import Course, CourseError
from .decoys import Decoys
from ..errors import printable
from ..nbgrader_process import GRADER_CONFIG, explain_failure, nbgrader_environment
from .launcher import Launched, Launcher

# In the throwaway course: the folder of the student version (nbgrader's source
# folder there: the solutions never reach a worker) and the gradebook's file.
THROWAWAY_SOURCE = "release"
THROWAWAY_GRADEBOOK = "gradebook.db"


@dataclass(frozen=True)
class Limits:
    """How long and how much memory one submission may take. A limit left
    None is the course's own, from its nbgrader_config.py (:meth:`for_course`)."""
    wall_seconds: int | None = None   # the whole notebook: c.Course.submission_seconds
    memory_mb: int | None = None      # the kernel and nbgrader together: c.Course.submission_memory_mb
    cell_seconds: int | None = None   # one cell: c.Execute.timeout, the same as Validate's
    sandboxed: bool = True            # False only when the instructor passes --unsafe-no-sandbox
    threads: int | None = None        # the kernel's threads for Keras's backend; None: as many as it likes

    def for_course(self, course):
        """Return these limits with every unset one read from ``course`` (a
        :class:`~dlcourse.host.course.Course`).

        Raises:
            CourseError: nbgrader_config.py does not set a limit that is unset here.
        """
        read = {"wall_seconds": course.submission_seconds,
                "memory_mb": course.submission_memory_mb,
                "cell_seconds": course.config.Execute.get("timeout")}
        unset = {name: value for name, value in read.items() if getattr(self, name) is None}
        missing = [name for name, value in unset.items() if not isinstance(value, int) or value <= 0]
        if missing:
            raise CourseError(f"nbgrader_config.py sets no positive whole number for the limits {missing} "
                              "(c.Course.submission_seconds, c.Course.submission_memory_mb, c.Execute.timeout). "
                              "Fix: set them there, or pass them on the command line.")
        return replace(self, **unset)


@dataclass(frozen=True)
class Job:
    """Everything needed to grade one student's submission of one assignment."""
    assignment: str
    student: str
    config: bytes                  # the course's nbgrader_config.py
    gradebook: bytes               # a gradebook.db that knows only this assignment
    release: dict                  # path relative to the assignment folder -> bytes
    submission: dict               # path relative to the submission folder -> bytes
    limits: Limits                 # resolved: every limit set (Limits.for_course)
    backend: str                   # the Keras backend the kernel runs on
    sandbox_checked: bool = False  # True: the machine that grades it has been checked (check_machine) already


@dataclass
class SubmissionResult:
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


def shown_path(path, course):
    """Return a path a kernel named as a reason shows it: escaped, with the
    throwaway ``course`` (or a decoy in its place) shown as ``<course>``."""
    return printable(str(path).replace(str(course), "<course>")).replace("\n", "\\n")


def describe_attempt(attempt, course):
    """Return a review reason for one attempt the watch reported (paths as :func:`shown_path`)."""
    what = {"read": "read", "write": "write", "change": "change or remove"}.get(attempt["action"], attempt["action"])
    path = shown_path(attempt["path"], course)
    refused = " (refused)" if attempt.get("refused") else ""
    return f"tried to {what} {path}, outside its own folder{refused}"


def describe_decoy(path, course):
    """Return a review reason for a decoy the kernel touched (``path`` as it named it, shown as :func:`shown_path`)."""
    return (f"opened, listed or changed {shown_path(path, course)}, a decoy where an escape from its folder would look "
            "(no honest code does)")


def describe_filled(slot):
    """Return a review reason if the slot's kernel filled its capped space
    (its nbgrader process wrote whether it did when nbgrader ended), else []."""
    try:
        filled = json.loads((slot.work / prelaunch.FILLED).read_text())
    except (OSError, ValueError):
        return []
    return [f"filled the {capped.SCRATCH_MB} MB ({capped.MAX_FILES:,} files) that its own folder, its home, /tmp and "
            "/dev/shm share: what it wrote past that failed with 'No space left on device'"] if filled is True else []


def _write_tree(root, files):
    root.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        path = (root / relative).resolve()
        if root.resolve() not in path.parents:
            raise ValueError(f"refusing to write {relative!r} outside {root}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


# Processes one grading may run at once: nbgrader, the sandbox and the kernel are 5; a notebook of the
# course starts none of its own.
MAX_PROCESSES = 64


def _supervise(process, limits):
    """Wait for ``process`` within the limits; return (error or None, peak MB).
    Kills the whole process tree when a limit is hit, and always at the end."""
    hit, peak = processes.supervise(process, limits.memory_mb, limits.wall_seconds, max_processes=MAX_PROCESSES)
    if hit == "processes":
        return (f"The submission ran more than {MAX_PROCESSES} processes at once, so its grading was stopped "
                "and it got no autograded points. Fix: check for processes started in a loop (a notebook of "
                "this course needs none of its own)."), peak
    if hit == "memory":
        return (f"The submission used more than the memory limit of {limits.memory_mb} MB, so its "
                "grading was stopped and it got no autograded points. Fix: check for a model or an array "
                "far bigger than the task needs (the limit is --memory-mb)."), peak
    if hit == "wall":
        return (f"The submission ran longer than the wall-time limit of {limits.wall_seconds} s for the "
                "whole notebook, so its grading was stopped and it got no autograded points. Fix: check "
                "for an endless loop or training far longer than asked (the limit is --wall-seconds)."), peak
    return None, peak


def worker_name():
    """Return the name of the Dask worker running this, or the host name."""
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return os.uname().nodename


def nbgrader_arguments(job, slot):
    """Return nbgrader's arguments that autograde the job in the ``slot``'s throwaway course."""
    return ["autograde", job.assignment, "--student", job.student, "--force",
            # The student version stands in for the sources, and the gradebook is the throwaway's own.
            f"--CourseDirectory.source_directory={THROWAWAY_SOURCE}",
            f"--CourseDirectory.db_url=sqlite:///{slot.course / THROWAWAY_GRADEBOOK}",
            f"--Execute.kernel_name={prelaunch.SANDBOXED_KERNEL_NAME}",
            # The kernel has no network: the grader reaches it through Unix sockets in `runtime`.
            "--KernelManager.transport=ipc", f"--KernelManager.ip={slot.socket}",
            f"--Execute.timeout={job.limits.cell_seconds}",
            # Once the last cell has run, every output is in: stop the kernel at once instead of
            # waiting 2.3 s for TensorFlow to tear down (and for any exit code of the student's).
            "--Execute.shutdown_kernel=immediate"]


@dataclass
class Slot:
    """A private folder, a sandboxed kernel started in it and an nbgrader
    process waiting for its arguments (:mod:`dlcourse.host.grading.prelaunch`): what
    grades one submission, started before it arrives."""
    work: Path
    assignment: str
    backend: str
    limits: Limits
    process: Launched | None = None
    decoys: Decoys | None = None
    reports: watch.Reports | None = None

    @property
    def course(self):
        """The throwaway course nbgrader grades in."""
        return self.work / "course"

    @property
    def folder(self):
        """The kernel's folder: a copy of the student's files (it may change them)."""
        return self.work / "submission"

    @property
    def incoming(self):
        """Where the student's files for the kernel's folder arrive (the kernel never sees it)."""
        return self.work / "incoming"

    @property
    def scratch(self):
        """{where the kernel sees it: folder} of the sandbox's /tmp and /dev/shm."""
        return {"/tmp": self.work / "scratch" / "tmp", "/dev/shm": self.work / "scratch" / "shm"}

    @property
    def home(self):
        """The kernel's home; its TMPDIR is ``home/tmp``."""
        return self.work / "home"

    @property
    def runtime(self):
        """The folder of the kernel's sockets."""
        return self.work / sandbox.RUNTIME

    @property
    def space(self):
        """Where the capped space every folder the kernel may write shares is mounted
        (:mod:`dlcourse.host.grading.capped`)."""
        return self.work / "capped"

    def writable(self):
        """Return every folder the kernel may write (sandboxed: parts of the capped space)."""
        return [self.folder, self.home, self.runtime, *self.scratch.values()]

    @property
    def socket(self):
        """The Unix sockets the kernel is reached through, without their -<n>."""
        return self.work / sandbox.RUNTIME / sandbox.SOCKET

    @property
    def log(self):
        """nbgrader's output and the kernel's (appended to only)."""
        return self.work / "nbgrader.log"

    def suits(self, job):
        """True when its kernel is still running, as ``job`` needs it (assignment, backend, sandbox, threads)."""
        kernel = (self.assignment, self.backend, self.limits.sandboxed, self.limits.threads)
        wanted = (job.assignment, job.backend, job.limits.sandboxed, job.limits.threads)
        return kernel == wanted and self.process.poll() is None


def open_slot(job):
    """Make a slot for a submission like ``job`` and start its kernel (on the
    job's backend, sandboxed and with threads as its limits say, with decoys
    of the assignment around its folder) and nbgrader; return the Slot.

    Raises:
        SandboxUnavailable: sandboxed, and bwrap is not installed.
    """
    slot = Slot(sandbox.work_folder("dlcourse-grading-"), job.assignment, job.backend, job.limits)
    try:
        _start(slot)
    except BaseException:
        close_slot(slot)
        raise
    return slot


def _start(slot):
    """Make the slot's folders, decoys and watch socket, and start its
    nbgrader process and kernel (sandboxed: with every folder the kernel may
    write capped, :mod:`dlcourse.host.grading.capped`)."""
    limits = slot.limits
    runtime, home, jupyter = slot.runtime, slot.home, slot.work / "jupyter"
    scratch = slot.scratch if limits.sandboxed else {}
    capped_space = [slot.space] if limits.sandboxed else []
    for folder in (slot.course, slot.folder, slot.incoming, runtime, home / "tmp", *scratch.values(), *capped_space):
        folder.mkdir(parents=True)
    _write_tree(jupyter, {"nbgrader_config.py": GRADER_CONFIG.encode()})
    writable = [(slot.folder, slot.folder), (runtime, runtime), (home, home)]
    # Decoys are for a sandbox to show: an unsandboxed kernel (--unsafe-no-sandbox) gets none.
    slot.decoys = decoys.plant(slot.work, slot.folder, slot.assignment) if limits.sandboxed else Decoys([])
    slot.reports = watch.Reports(slot.work / "watch")
    sandbox.write_kernelspec(jupyter, writable, home, limits.sandboxed, slot.backend, warm=True,
                             threads=limits.threads, decoys=slot.decoys.binds, report=slot.reports.path,
                             scratch=scratch)
    env = nbgrader_environment(JUPYTER_PATH=str(jupyter), JUPYTER_CONFIG_DIR=str(jupyter),
                               JUPYTER_RUNTIME_DIR=str(runtime), TMPDIR=str(runtime))
    # nbgrader's output and the kernel's, appended (the watch reports to its socket, never here).
    to_cap = [str(folder) for folder in [slot.space, *slot.writable()]] if limits.sandboxed else []
    slot.process = _launcher.launch([str(slot.folder), str(slot.socket), str(slot.work), str(slot.incoming), *to_cap],
                                    cwd=slot.course, env=env, log=slot.log)


def close_slot(slot):
    """Stop a slot's processes (if still running) and its decoys' watch, and remove its folder; return None."""
    if slot.decoys is not None:
        slot.decoys.close()
    if slot.reports is not None:
        slot.reports.collect()
    if slot.process is not None:
        try:
            slot.process.stdin.close()  # end of input: the process stops its kernel and leaves
            slot.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        processes.kill(processes.process_tree(slot.process.pid))
        slot.process.wait()
    shutil.rmtree(slot.work, ignore_errors=True)


# Starts every slot's nbgrader process, from a process that imported nbgrader once.
_launcher = Launcher()

# The slot each grading thread of this process starts for its next submission.
_next_slots = {}
_next_slots_lock = threading.Lock()


def _take_slot(job):
    """Return this thread's slot started ahead if it suits the job, else a new one."""
    with _next_slots_lock:
        slot = _next_slots.pop(threading.get_ident(), None)
    if slot is not None and slot.suits(job):
        return slot
    if slot is not None:
        close_slot(slot)
    return open_slot(job)


def _start_next_slot(job):
    """Start this thread's slot for its next submission, like ``job``'s."""
    slot = open_slot(job)
    with _next_slots_lock:
        _next_slots[threading.get_ident()] = slot


def close_next_slots():
    """Close every slot this process started ahead, and its judges (at the
    end of a class); return how many slots."""
    with _next_slots_lock:
        slots, judges = list(_next_slots.values()), list(_judges.values())
        _next_slots.clear()
        _judges.clear()
    for slot in slots:
        close_slot(slot)
    for running in judges:
        running.close()
    return len(slots)


# The judge each grading thread of this process keeps for the submissions it grades.
_judges = {}


def _judge_for(job, cells):
    """Return this thread's judge of ``cells`` (as ``job`` runs them), started if it has none,
    or afresh when its memory has grown past its setup by more than a submission's limit.

    Raises:
        JudgeUnavailable: as :class:`judge.Judge`.
    """
    key = judge.program_key(cells, job.backend, job.limits.sandboxed, job.limits.threads)
    with _next_slots_lock:
        current = _judges.pop(threading.get_ident(), None)
    if current is not None and (current.key != key or not current.alive()
                                or current.grown_mb() > (job.limits.memory_mb or float("inf"))):
        current.close()
        current = None
    current = current or judge.Judge(cells, job.backend, job.limits.sandboxed, job.limits.threads)
    with _next_slots_lock:
        _judges[threading.get_ident()] = current
    return current


def _judge(job, slot, notebooks):
    """Have the judge decide the test cells of each graded notebook (text);
    return (the notebooks with the judge's outputs in their test cells,
    review reasons, an error or None when a limit stopped the judging).

    Raises:
        JudgeUnavailable: the judge cannot start on this machine.
    """
    judged, reasons = {}, []
    for name, text in notebooks.items():
        release = job.release.get(f"{name}.ipynb")
        notebook = nbformat.reads(text, as_version=4)
        released = nbformat.reads(release.decode(), as_version=4) if release is not None else nbformat.v4.new_notebook()
        cells = judge.program(released, slot.course / THROWAWAY_GRADEBOOK, job.assignment, name) if release else ()
        tests_as_released = {c.source for c in released.cells if c.metadata.get("nbgrader", {}).get("grade")}
        evidence, stray = judge.take_evidence(notebook, cells, copies=tests_as_released)
        reasons += stray
        if any(cell.test for cell in cells):
            try:
                verdicts = _judge_for(job, cells).judge(evidence, job.limits.wall_seconds, job.limits.memory_mb)
            except judge.JudgeStopped as stopped:
                return {}, reasons, (f"The submission got no autograded points: {stopped}. Fix: check that the "
                                     "answers are the size the task asks for.")
            judge.give_verdicts(notebook, verdicts)
        judged[name] = nbformat.writes(notebook)
    return judged, reasons, None


@functools.cache
def check_sandbox():
    """Check once per process (a grading worker) that this machine can grade
    sandboxed (:func:`check_machine`); return None.

    Raises:
        SandboxUnavailable: as :func:`check_machine` (not cached: the next
            call checks again).
    """
    check_machine()


def check_machine():
    """Check that a sandboxed kernel starts here and that the folders it may
    write can be capped; return None.

    Raises:
        SandboxUnavailable: it cannot; the message says why and the fix.
    """
    sandbox.require_bwrap()
    sandbox.check_kernel_starts()
    problem = capped.check()
    if problem:
        raise sandbox.SandboxUnavailable(
            "Grading caps every folder a student's kernel may write (a tmpfs in a mount namespace of the grading "
            f"process), and this machine refused: {problem}. Nobody was marked for it. {CAPPING_FIX}")


CAPPING_FIX = ("Fix: grade as root, or allow unprivileged user namespaces (Debian: `sysctl "
               "kernel.unprivileged_userns_clone=1`; Ubuntu 24.04: `sysctl "
               "kernel.apparmor_restrict_unprivileged_userns=0`); in a container, allow unshare and mount. "
               "Grading as yourself also needs a Linux kernel that lets a user namespace set its own IPC "
               "limits (6.1 or later: `uname -r`); on an older one, grade as root.")


def grade(job, ahead=True):
    """Grade one submission in a throwaway course; return its SubmissionResult
    (with ``error`` set, never raised, when it could not be graded; with
    ``machine_fault`` too when the sandbox cannot run a kernel here). With
    ``ahead``, start the slot of this thread's next submission while this one
    is graded."""
    started = time.monotonic()
    if job.limits.sandboxed and not job.sandbox_checked:
        try:
            check_sandbox()
        except sandbox.SandboxUnavailable as exc:
            return SubmissionResult(job.student, error=str(exc), machine_fault=True,
                                    seconds=time.monotonic() - started, worker=worker_name())
    slot = None
    try:
        slot = _take_slot(job)
        shadowing = _fill(slot, job)
        slot.decoys.watch()   # from here on, a touch is this submission's
        try:
            slot.process.stdin.write(json.dumps(nbgrader_arguments(job, slot)) + "\n")
            slot.process.stdin.close()
        except OSError:  # it ended early; its log says why
            pass
        if ahead:
            _start_next_slot(job)
        error, peak = _supervise(slot.process, job.limits)
        output = slot.log.read_text(errors="replace")
        if slot.process.returncode == capped.CANNOT_CAP:   # before any student code ran: the machine's fault
            raise sandbox.SandboxUnavailable(f"{output.strip()[-2000:]}\n{CAPPING_FIX}")
        if error is None and slot.process.returncode != 0:
            error = explain_failure(output)
        student_files = Course.at(slot.course).autograded(job.student, job.assignment)
        notebooks = {} if error else {p.stem: p.read_text() for p in sorted(student_files.glob("*.ipynb"))}
        if error is None and not notebooks:
            error = "nbgrader wrote no autograded notebook:\n" + explain_failure(output)
        touched = slot.decoys.touched()
        judged_flags = []
        if error is None:
            notebooks, judged_flags, error = _judge(job, slot, notebooks)
        flags = judged_flags + [f"submitted {name}, a Python module the kernel would import in place of the "
                                "course's own (it was not given to the kernel)" for name in shadowing]
        attempts, more, forged = slot.reports.collect()
        flags += [describe_attempt(attempt, slot.course) for attempt in attempts]
        flags += [f"and {more:,} more attempts outside its own folder"] if more else []
        flags += [f"sent {forged:,} messages to the grader's watch that the watch did not write"] if forged else []
        flags += [describe_decoy(path, slot.course) for path in touched[:watch.MAX_ATTEMPTS]]
        flags += [f"and {len(touched) - watch.MAX_ATTEMPTS:,} more decoys"] if len(touched) > watch.MAX_ATTEMPTS else []
        flags += describe_filled(slot)
        return SubmissionResult(job.student, notebooks, error, seconds=time.monotonic() - started, peak_mb=peak,
                                worker=worker_name(), flags=flags)
    except (sandbox.SandboxUnavailable, judge.JudgeUnavailable, decoys.WatchUnavailable) as exc:
        return SubmissionResult(job.student, error=str(exc), machine_fault=True, seconds=time.monotonic() - started)
    finally:
        if slot is not None:
            close_slot(slot)


def _fill(slot, job):
    """Write the job's files into the slot: the throwaway course (the
    course's configuration, a gradebook that knows only this assignment, the
    release version, the submission) and the kernel's copy of the student's
    files; return the names of submitted Python modules left out of that copy."""
    _write_tree(slot.course, {"nbgrader_config.py": job.config, THROWAWAY_GRADEBOOK: job.gradebook})
    layout = Course.at(slot.course)
    _write_tree(slot.course / THROWAWAY_SOURCE / job.assignment, job.release)
    _write_tree(layout.submitted(job.student, job.assignment), job.submission)
    layout.autograded(job.student, job.assignment).mkdir(parents=True, exist_ok=True)
    # The kernel sees a copy of the student's files in its own folder: nbgrader (outside
    # the sandbox) writes its output into autograded/, which no student code ever touched
    # (a symlink left there would otherwise make it write anywhere on this machine).
    shadowing = sorted(name for name in job.submission if importable(name))
    others = {name: data for name, data in {**job.submission, **job.release}.items()
              if not name.endswith(".ipynb") and name not in shadowing}
    _write_tree(slot.incoming, others)   # the nbgrader process copies them into the kernel's folder
    return shadowing
