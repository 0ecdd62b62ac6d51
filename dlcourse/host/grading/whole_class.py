"""Host side: autograde a whole class on Dask, in parallel, with progress.

The instructor's process builds one :class:`~dlcourse.host.grading.submission.Job` per
submission, sends the jobs to Dask workers (a local cluster of N worker
processes by default, or an existing cluster through its scheduler's
address), and merges each result into the course gradebook as it arrives
(:mod:`dlcourse.host.grading.merge`). Workers need only this Python environment; the
course files and the submissions travel with the jobs. When a worker dies
mid-grade, Dask runs the job again elsewhere; a result is merged once.
"""

import json
import os
import sqlite3
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.utils import parse_utc

from . import merge, sandbox, submission
from .. import backends
from ..extensions import receipts
from ..course import Course, CourseError
from ..status import Status


def scoped_gradebook(course, assignment):
    """Return the bytes of a copy of the course gradebook that knows only
    ``assignment`` (its notebooks and cells) and no student."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "gradebook.db"
        with sqlite3.connect(Course.at(course).gradebook_path) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        with Gradebook(f"sqlite:///{copy}") as gradebook:
            for student in [s.id for s in gradebook.students]:
                gradebook.remove_student(student)
            for other in [a.name for a in gradebook.assignments if a.name != assignment]:
                gradebook.remove_assignment(other)
        return copy.read_bytes()


def _files(folder):
    """Return {relative path: bytes} of the regular files under ``folder``
    (symbolic links are left out: they could point anywhere on this machine)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def timestamp(course, assignment, student):
    """Return the submission time nbgrader collected (timestamp.txt), or None."""
    path = Course.at(course).submitted(student, assignment) / "timestamp.txt"
    return parse_utc(path.read_text().strip()) if path.is_file() else None


def already_graded(course, assignment, student):
    """True when a finished merge left this student's autograded notebooks."""
    folder = Course.at(course).autograded(student, assignment)
    return folder.is_dir() and any(folder.glob("*.ipynb"))


def make_jobs(course, assignment, students, limits, backend=None):
    """Return one Job per student (their files read now), graded on the Keras
    ``backend`` (default: :func:`backends.chosen`)."""
    backend = backend or backends.chosen()
    layout = Course.at(course)
    config = layout.config_path.read_bytes()
    gradebook = scoped_gradebook(course, assignment)
    release = _files(layout.release(assignment))
    return [submission.Job(assignment, s, config, gradebook, release,
                           _files(layout.submitted(s, assignment)), limits, backend) for s in students]


def _client(workers, scheduler):
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler, timeout="30s"), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           memory_limit=0, silence_logs=40)
    return Client(cluster), cluster


def _progress(total):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="autograde", unit="submission", dynamic_ncols=True,
                bar_format="{desc}: {n}/{total} graded |{bar}| {postfix} [{elapsed} elapsed, {remaining} left]")


def _class_to_grade(course, assignment, students, limits):
    """Return the students to grade, after checking the course can grade them.

    Raises:
        CourseError, SandboxUnavailable: as :func:`autograde_class`.
    """
    layout = Course.at(course)
    layout.check_assignment(assignment)
    if limits.sandboxed:
        sandbox.require_bwrap()
    if not layout.gradebook_path.exists():
        raise CourseError(f"{course} has no gradebook ({layout.gradebook_path}). "
                          "Fix: run `make release` (nbgrader generate_assignment) first.")
    everyone = students or layout.students_who_submitted(assignment)
    if not everyone:
        raise CourseError(f"No submissions in {layout.submitted('*', assignment)}. "
                          "Fix: collect them first (nbgrader collect).")
    for student in everyone:
        folder = layout.submitted(student, assignment)
        if not folder.is_dir():
            raise CourseError(f"{student} has no submission of {assignment} (no {folder}). "
                              "Fix: check the name, or collect it first (nbgrader collect).")
    return everyone


def autograde_class(course, assignment, students=None, workers=None, scheduler=None, force=False,
                    limits=submission.Limits(), progress=True, backend=None):
    """Autograde every submission of ``assignment`` (or only ``students``) on
    the Keras ``backend`` (default: :func:`backends.chosen`); return one
    :class:`~dlcourse.host.grading.merge.Merged` per student, in name order.

    Raises:
        BackendError: the backend is not installed here.
        CourseError: the assignment does not exist, or nothing to grade.
        SandboxUnavailable: ``limits.sandboxed`` is True, and there is no
            bwrap or this machine cannot grade sandboxed (checked before the
            class; a worker of a ``scheduler`` checks before its first
            submission, and results merged before that stay).
    """
    layout = Course.at(course)
    limits = limits.for_course(layout)
    backend = backends.require(backend or backends.chosen())
    everyone = _class_to_grade(course, assignment, students, limits)
    outcomes = {s: merge.Merged(s, Status.SKIPPED, reasons=["already graded (use --force to grade again)"])
                for s in everyone if not force and already_graded(course, assignment, s)}
    for student in everyone:
        problems = layout.unreadable_notebooks(assignment, student) if student not in outcomes else []
        if problems:
            outcomes[student] = merge.Merged(student, Status.NOT_GRADED, reasons=problems)
    todo = [s for s in everyone if s not in outcomes]
    cores = os.cpu_count() or 1
    workers = workers or cores
    if scheduler is None:
        # On this machine: no worker without a submission (its cores go to the others' kernels), and the
        # sandbox checked once here for all of them, before any is started.
        workers = max(1, min(workers, len(todo)))
        if limits.sandboxed and todo:
            submission.check_machine()
    if scheduler is None and limits.threads is None:  # the workers share this machine's cores
        limits = replace(limits, threads=backends.share_of_cores(workers))
    if todo:
        outcomes.update(_grade_on_dask(course, assignment, todo, workers, scheduler, limits, progress, backend))
    return [outcomes[s] for s in sorted(outcomes)]


def _grade_on_dask(course, assignment, students, workers, scheduler, limits, progress, backend):
    from distributed import as_completed

    client, cluster = _client(workers, scheduler)
    bar = _progress(len(students)) if progress else None
    outcomes, failures = {}, 0
    try:
        jobs = make_jobs(course, assignment, students, limits, backend)
        if scheduler is None and limits.sandboxed:   # autograde_class checked this machine's sandbox
            jobs = [replace(job, sandbox_checked=True) for job in jobs]
        # With a core to spare, each worker starts the slot of its next submission while it grades one
        # (dlcourse/host/grading/prelaunch.py); without, that start-up only slows the grading beside it. The last
        # submissions, one per worker, have none after them.
        spare_core = scheduler is None and workers < (os.cpu_count() or 1)
        futures = {client.submit(submission.grade, job, ahead=spare_core and number < len(jobs) - workers,
                                 key=f"grade-{assignment}-{job.student}-{time.time_ns()}", pure=False): job.student
                   for number, job in enumerate(jobs)}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:  # the job itself failed (e.g. Dask gave up after workers died running it)
                result = submission.SubmissionResult(futures[future], error=f"grading failed on the worker: {exc!r}")
            if result.machine_fault:  # no kernel can run on that worker: nobody is marked for it
                client.cancel(list(futures))
                raise sandbox.SandboxUnavailable(f"On worker {result.worker or '?'}: {result.error}")
            result.flags += receipts.held_reasons(Course.at(course).submitted(result.student, assignment))
            outcome = merge.merge(course, assignment, result, timestamp(course, assignment, result.student))
            outcomes[result.student] = outcome
            failures += outcome.status != Status.GRADED
            if bar:
                bar.set_postfix_str(f"{failures} not graded or for review")
                bar.update(1)
    finally:
        if bar:
            bar.close()
        try:  # the slots the workers started for submissions that never came
            client.run(submission.close_next_slots)
        except Exception:  # a worker that died took its slots with it
            pass
        client.close()
        if cluster:
            cluster.close()
    return outcomes


def format_table(assignment, outcomes):
    """Return the autograde results as a Markdown table, reasons below it."""
    lines = [f"Autograded {assignment}: {len(outcomes)} submission(s)", "",
             "| student | autograded points | time | peak memory | status |", "|---|---|---|---|---|"]
    for o in outcomes:
        if o.status == Status.REVIEW:
            score = f"0 / {o.max_score:g} (earned {o.earned:g}, not counted)"
        else:
            score = f"{o.score:g} / {o.max_score:g}" if o.score is not None else "-"
        memory = f"{o.peak_mb:.0f} MB" if o.peak_mb else "-"
        lines.append(f"| {o.student} | {score} | {o.seconds:.0f} s | {memory} | {o.status} |")
    for o in outcomes:
        if o.reasons and o.status != Status.GRADED:
            why = "; ".join(o.reasons) if o.status == Status.REVIEW else "\n".join(o.reasons)
            lines += ["", f"{o.student} ({o.status}): {why}"]
    if any(o.status == Status.REVIEW for o in outcomes):
        lines += ["", "A submission under review has its autograded points set to 0 until you clear it: "
                  f"`python -m dlcourse clear {assignment} STUDENT`."]
    return "\n".join(lines)


def save_outcomes(path, assignment, outcomes):
    """Write the outcomes as JSON (for scripts and benchmarks); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"assignment": assignment, "outcomes": [o.__dict__ for o in outcomes]}, indent=1))
    return path
