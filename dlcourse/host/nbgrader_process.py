"""Host side: nbgrader as a subprocess -- its configuration for grading, its
environment, and its failures explained in plain words."""

import os
import re
import sys
from pathlib import Path

# nbgrader's own configuration for the grading run (on JUPYTER_CONFIG_DIR; the
# course's nbgrader_config.py is read after it): name each cell in the log as
# it starts, so that a kernel that dies is blamed on the cell that killed it.
GRADER_CONFIG = "from dlcourse.host.nbgrader_process import announce_cell\nc.Execute.on_cell_execute = announce_cell\n"
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


def explain_failure(output):
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
