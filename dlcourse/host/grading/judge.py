"""Host side: the judge, where a notebook's tests are decided.

The student's graded kernel runs the whole notebook, test cells included,
and its test cells publish the student's answers as data
(:mod:`dlcourse.evidence`). Its verdicts count for nothing. The judge is a
second process, sandboxed like the kernel, that never runs any code of a
student: it runs the assignment's locked cells as the instructor wrote them
(read from the release notebook for their order and from the gradebook for
their source, hidden tests included), the setup cells once, and then, for
each submission, every test cell with that cell's published answers. Its
outputs replace the test cells' outputs in the graded notebook, and the
merge scores them (:mod:`dlcourse.host.grading.merge`).

One judge serves every submission a grading thread grades (one start and one
setup per class and thread), since it only ever reads data: JSON, arrays and
Keras configs rebuilt with Keras's own classes.

``python -P -m dlcourse.host.grading.judge`` is the judge process itself; its
protocol is one JSON object per line on stdin and stdout.
"""

import contextlib
import hashlib
import io
import json
import linecache
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass

import nbformat

from dlcourse.evidence import MIME

from . import sandbox
from .. import processes
from ..errors import UserError

MAX_CELL_EVIDENCE = 16_000_000    # bytes of answers one test cell may publish
SETUP_SECONDS = 600               # for the judge's start and its setup cells


class JudgeUnavailable(UserError):
    """The judge cannot start here (a fault of the grading machine, not of a submission)."""


class JudgeStopped(Exception):
    """The judge hit a limit while judging one submission."""


@dataclass(frozen=True)
class Cell:
    """One of the instructor's locked code cells, as the judge runs it."""
    grade_id: str
    source: str
    test: bool          # a test cell (graded); else a setup cell, run once


def _source_cells(gradebook, assignment, notebook):
    """Return {grade_id: source} of the gradebook's cells of one notebook (hidden tests included)."""
    with contextlib.closing(sqlite3.connect(f"file:{gradebook}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT source_cell.name, source_cell.source FROM source_cell "
                          "JOIN notebook ON source_cell.notebook_id = notebook.id "
                          "JOIN assignment ON notebook.assignment_id = assignment.id "
                          "WHERE assignment.name = ? AND notebook.name = ?", (assignment, notebook)).fetchall()
    return dict(rows)


def program(release, gradebook, assignment, notebook):
    """Return the Cells the judge runs for one notebook: the locked code
    cells of the ``release`` notebook (a NotebookNode), in its order, with
    their source from the ``gradebook`` file.

    Raises:
        JudgeUnavailable: a locked cell is not in the gradebook (the
            release and the gradebook do not match).
    """
    sources = _source_cells(gradebook, assignment, notebook)
    cells = []
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("locked") or meta.get("solution"):
            continue
        if meta.get("grade_id") not in sources:
            raise JudgeUnavailable(f"The gradebook has no cell {meta.get('grade_id')!r} of {assignment}/{notebook}. "
                                   "Fix: run `make release` again, so that the release and the gradebook match.")
        cells.append(Cell(meta["grade_id"], sources[meta["grade_id"]], bool(meta.get("grade"))))
    return tuple(cells)


# --- the graded notebook: answers out, verdicts in -----------------------------------------------------------------


def _is_evidence(output):
    return isinstance(output.get("data"), dict) and MIME in output["data"]


def take_evidence(notebook, cells, copies=()):
    """Remove every published answer from the graded ``notebook`` (in place);
    return ({grade_id: [answers]} from each test cell, review reasons for
    answers published by any other cell, unless its source is one of
    ``copies`` (the test cells' sources as released: a student's copy of a
    test cell asks its questions too)."""
    tests = {cell.grade_id for cell in cells if cell.test}
    copies = set(copies) | {cell.source for cell in cells if cell.test}
    evidence, reasons = {}, []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type != "code":
            continue
        published = [o for o in cell.get("outputs", []) if _is_evidence(o)]
        cell.outputs = [o for o in cell.get("outputs", []) if not _is_evidence(o)]
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in tests and grade_id not in evidence:
            answers = [o["data"][MIME] for o in published]
            evidence[grade_id] = answers if len(json.dumps(answers)) <= MAX_CELL_EVIDENCE else []
        elif published and cell.source not in copies:
            reasons.append(f"cell {number} published answers for the judge, and it is not a test cell")
    return evidence, reasons


def give_verdicts(notebook, verdicts):
    """Replace each test cell's outputs in ``notebook`` (in place) with the
    judge's outputs ``verdicts`` ({grade_id: outputs}); a cell marked as a
    test that the judge did not judge (a second copy, an unknown id) fails.
    Return the notebook."""
    done = set()
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not (meta.get("grade") and not meta.get("solution")):
            continue
        grade_id = meta.get("grade_id")
        judged = verdicts[grade_id] if grade_id in verdicts and grade_id not in done else [_not_judged()]
        cell.outputs = [nbformat.from_dict(output) for output in judged]
        done.add(grade_id)
    return notebook


def _not_judged():
    return _error_output("NotJudged", "The judge did not judge this cell: it is not one of the assignment's tests.", [])


# --- the judge process ---------------------------------------------------------------------------------------------


def _error_output(name, message, lines):
    return {"output_type": "error", "ename": name, "evalue": message, "traceback": lines}


def run_cell(cell, namespace):
    """Run one cell's source in ``namespace``; return its outputs as nbformat dicts."""
    filename = f"<{cell.grade_id}>"
    linecache.cache[filename] = (len(cell.source), None, cell.source.splitlines(True), filename)
    out, err, outputs = io.StringIO(), io.StringIO(), []
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            exec(compile(cell.source, filename, "exec"), namespace)
            error = None
        except Exception as raised:  # the cell's verdict: every kind counts
            error = raised
    for name, stream in (("stdout", out), ("stderr", err)):
        if stream.getvalue():
            outputs.append({"output_type": "stream", "name": name, "text": stream.getvalue()})
    if error is not None:
        lines = traceback.format_exception(type(error), error, error.__traceback__.tb_next)
        outputs.append(_error_output(type(error).__name__, str(error), ["".join(lines)]))
    return outputs


def judge_submission(cells, setup_namespace, evidence):
    """Run every test cell on a fresh copy of the setup namespace with its
    answers; return {grade_id: outputs}."""
    from dlcourse.evidence import replaying

    namespace, verdicts = dict(setup_namespace), {}
    for cell in cells:
        if cell.test:
            answers = evidence.get(cell.grade_id)
            with replaying(answers if isinstance(answers, list) else []):
                verdicts[cell.grade_id] = run_cell(cell, namespace)
    return verdicts


def main():
    """The judge process: read the program, run its setup cells, then judge
    one submission per line of input."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)   # whatever else prints (Keras, TensorFlow) goes to the log, never into the replies
    cells = tuple(Cell(**c) for c in json.loads(sys.stdin.readline())["cells"])
    namespace = {"__name__": "__main__"}
    problems = []
    for cell in cells:
        if not cell.test:
            errors = [o for o in run_cell(cell, namespace) if o["output_type"] == "error"]
            problems += [f"the setup cell {cell.grade_id} failed in the judge: {e['ename']}: {e['evalue']}"
                         for e in errors]
    replies.write(json.dumps({"ready": not problems, "problems": problems}) + "\n")
    for line in sys.stdin:
        try:
            evidence = json.loads(line)["evidence"]
        except (ValueError, KeyError, TypeError):
            evidence = {}
        replies.write(json.dumps({"verdicts": judge_submission(cells, namespace, evidence)}) + "\n")


# --- the judge as a grading worker starts it -------------------------------------------------------------------------


def program_key(cells, backend, sandboxed, threads):
    """What makes two judges the same: their cells, backend, sandbox and threads."""
    text = json.dumps([[asdict(c) for c in cells], backend, sandboxed, threads])
    return hashlib.sha256(text.encode()).hexdigest()


class Judge:
    """A running judge process for one notebook's cells, in a sandbox of its own."""

    def __init__(self, cells, backend, sandboxed=True, threads=None):
        self.cells, self.key = cells, program_key(cells, backend, sandboxed, threads)
        self.work = sandbox.work_folder("dlcourse-judge-")
        home = self.work / "home"
        (home / "tmp").mkdir(parents=True)
        env = sandbox.kernel_environment(home, backend, threads)
        env.pop("NBGRADER_EXECUTION")
        command = [sys.executable, "-P", "-m", "dlcourse.host.grading.judge"]
        if sandboxed:
            command = sandbox.bwrap_argv([(home, home)], env, sandbox.require_bwrap()) + ["--", *command]
        self.log = self.work / "judge.log"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                            cwd=home, env=None if sandboxed else env, text=True)
        reply = self._ask({"cells": [asdict(c) for c in cells]}, SETUP_SECONDS, memory_mb=None)
        if reply is None or not reply.get("ready"):
            problems = "; ".join(reply.get("problems", [])) if reply else self._log_tail()
            self.close()
            raise JudgeUnavailable(f"The judge did not start: {problems}. Fix: check the data and the "
                                   "environment on this machine (`make venv`), then grade again.")
        self.setup_mb = self.resident_mb()

    def alive(self):
        """True while the judge process runs."""
        return self.process.poll() is None

    def resident_mb(self):
        """Return the judge's resident memory now, in MB (its processes together)."""
        return processes.rss_bytes(processes.process_tree(self.process.pid)) / 2**20

    def grown_mb(self):
        """Return how far the judge's resident memory has grown past what its setup left, in MB."""
        return self.resident_mb() - self.setup_mb

    def judge(self, evidence, wall_seconds, memory_mb):
        """Return {grade_id: outputs} for one submission's ``evidence``.

        ``memory_mb`` limits what this submission's judging adds to the
        judge's memory: what the setup holds for every submission (the data,
        the grader's reference) never counts against a student.

        Raises:
            JudgeStopped: the judging took longer than ``wall_seconds`` or
                more than ``memory_mb``; the judge is stopped.
        """
        reply = self._ask({"evidence": evidence}, wall_seconds, memory_mb)
        if reply is None:
            raise JudgeStopped(self.stop_reason)
        return reply["verdicts"]

    def _ask(self, request, wall_seconds, memory_mb):
        """Send one request; return the reply, or None when the judge ended or hit a limit (then stopped).

        The memory limit is on the growth during this request, over what the judge held before it.
        """
        self.stop_reason = "the judge ended unexpectedly"
        before = self.resident_mb() if memory_mb else 0
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except OSError:
            return None
        deadline = time.monotonic() + wall_seconds
        while True:
            ready, _, _ = select.select([self.process.stdout], [], [], processes.POLL_SECONDS)
            if ready:
                line = self.process.stdout.readline()
                return json.loads(line) if line else None
            if memory_mb and self.resident_mb() - before > memory_mb:
                self.stop_reason = (f"checking this submission's answers took more than the memory limit of "
                                    f"{memory_mb} MB (a model or an array far bigger than the task needs?)")
            elif time.monotonic() > deadline:
                self.stop_reason = (f"checking this submission's answers took longer than {wall_seconds} s "
                                    "(a configuration far bigger than the task needs?)")
            elif self.alive():
                continue
            self.close()
            return None

    def _log_tail(self):
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "no log"

    def close(self):
        """Stop the judge and remove its folder; return None."""
        processes.kill(processes.process_tree(self.process.pid))
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        shutil.rmtree(self.work, ignore_errors=True)


if __name__ == "__main__":
    main()
