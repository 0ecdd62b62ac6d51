"""Benchmark: one class graded four ways, and where one submission's time goes.

    make bench-autograde            (or: python tests/bench_autograde.py [--assignment A])

The class (12 submissions of one assignment: solutions, correct variants,
typical mistakes, blanks) is graded by plain serial ``nbgrader autograde``,
then by ``python -m dlcourse autograde`` with 1 worker without the sandbox,
1 worker, and 2 workers. Each way starts from a fresh copy of the course,
removed afterwards. The table (and build/bench-autograde.{md,json}) gives
submissions per minute and the ratio to plain nbgrader. Then one solution is
graded as a worker grades it, its slot started ahead
(dlcourse/host/grading/prelaunch.py), to show where its time goes.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import ROOT  # noqa: E402
from dlcourse.host import backends  # noqa: E402
from dlcourse.host.grading import whole_class, submission  # noqa: E402
from dlcourse.host.term import instructor  # noqa: E402
from dlcourse.host.course import Course  # noqa: E402
from dlcourse.host.grading.submission import Limits  # noqa: E402
from submissions import fill, new_course, solution_code, solved, student_version, submit  # noqa: E402
from test_grading_pipeline import VARIANTS  # noqa: E402


VARIANTS_IN_CLASS = 4  # the first four of the pipeline's table: the class stays the same as it grows


def the_class(assignment):
    """12 submissions: 4 solutions, the correct variants and mistakes, blanks, one half done."""
    notebooks = {f"solution_{i}": solved(assignment) for i in range(1, 5)}
    variants = [(name, changes) for name, (changes, _) in VARIANTS[assignment].items() if name != "solution"]
    notebooks.update({name: solved(assignment, **changes) for name, changes in variants[:VARIANTS_IN_CLASS]})
    answers = solution_code(assignment)
    notebooks["half_done"] = fill(student_version(assignment), dict(list(answers.items())[: len(answers) // 2]))
    blank = 1
    while len(notebooks) < 12:
        notebooks[f"blank_{blank}"] = student_version(assignment)
        blank += 1
    return notebooks


def fresh_course(assignment, notebooks):
    course = new_course(Path(tempfile.mkdtemp(prefix="bench-course-")))
    for student, notebook in notebooks.items():
        submit(course, student, assignment, notebook)
    return course


def plain_nbgrader(course, assignment):
    result = instructor.nbgrader(course, "autograde", assignment, "--force")
    if result.returncode != 0:
        print(instructor.failure(result), file=sys.stderr)


def timed(label, grade, assignment, notebooks):
    course = fresh_course(assignment, notebooks)
    start = time.monotonic()
    try:
        grade(course)
    finally:
        seconds = time.monotonic() - start
        shutil.rmtree(course, ignore_errors=True)
    print(f"  {label}: {seconds:.0f} s", flush=True)
    return {"way": label, "seconds": round(seconds, 1), "per_minute": round(60 * len(notebooks) / seconds, 2)}


def cell_seconds(cell):
    """Seconds a cell of an executed notebook ran (nbclient's timing), 0 if it did not."""
    from dateutil.parser import isoparse

    timing = cell.get("metadata", {}).get("execution", {})
    if "shell.execute_reply" not in timing:
        return 0.0
    return (isoparse(timing["shell.execute_reply"]) - isoparse(timing["iopub.execute_input"])).total_seconds()


def where_the_time_goes(assignment):
    """Grade one solution as a worker does, with its slot started ahead and
    warm (the previous submission's grading started it); return {part: seconds}."""
    course = fresh_course(assignment, {"first": solved(assignment), "second": solved(assignment)})
    limits = Limits().for_course(Course.at(course))
    first, second = whole_class.make_jobs(course, assignment, ["first", "second"], limits, backends.DEFAULT)
    shutil.rmtree(course)    # the jobs carry every file they need
    submission.grade(first)  # starts the slot of the next submission
    time.sleep(15)           # while a submission is graded, the next slot warms up
    result = submission.grade(second, ahead=False)
    submission.close_next_slots()   # and this thread's judge, with its folder
    assert result.error is None, result.error
    cells = json.loads(result.notebooks[assignment])["cells"]
    meta = [c["metadata"].get("nbgrader", {}) for c in cells]
    setup = sum(cell_seconds(c) for c, m in zip(cells, meta) if m.get("grade_id") == "setup")
    tests = sum(cell_seconds(c) for c, m in zip(cells, meta) if m.get("grade") and c["cell_type"] == "code")
    others = sum(cell_seconds(c) for c, m in zip(cells, meta)
                 if c["cell_type"] == "code" and m.get("grade_id") != "setup" and not m.get("grade"))
    parts = {"the whole grading of the submission, in the worker": result.seconds,
             "setup cell (imports, data; Keras started ahead)": setup,
             "test cells (the student's code called, and the checks)": tests,
             "the student's cells (definitions)": others,
             "the rest: nbgrader (reading, the gradebook, writing) and handing over the kernel":
                 result.seconds - setup - tests - others}
    return {k: round(v, 2) for k, v in parts.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="a3_regression", choices=list(VARIANTS))
    args = parser.parse_args()
    assignment = args.assignment
    notebooks = the_class(assignment)
    print(f"Grading {len(notebooks)} submissions of {assignment} four ways on {os.cpu_count()} cores:", flush=True)
    rows = [
        timed("plain serial nbgrader autograde", lambda c: plain_nbgrader(c, assignment), assignment, notebooks),
        timed("--workers 1 --unsafe-no-sandbox", lambda c: whole_class.autograde_class(
            c, assignment, workers=1, limits=Limits(sandboxed=False), progress=False), assignment, notebooks),
        timed("--workers 1", lambda c: whole_class.autograde_class(c, assignment, workers=1, progress=False),
              assignment, notebooks),
        timed("--workers 2", lambda c: whole_class.autograde_class(c, assignment, workers=2, progress=False),
              assignment, notebooks),
    ]
    base = rows[0]["seconds"]
    lines = [f"Autograding {len(notebooks)} submissions of {assignment}, {os.cpu_count()} cores", "",
             "| way | wall time | submissions per minute | speed-up vs plain nbgrader |", "|---|---|---|---|"]
    lines += [f"| {r['way']} | {r['seconds']:.0f} s | {r['per_minute']:.2f} | {base / r['seconds']:.2f}x |" for r in rows]
    overhead = rows[2]["seconds"] / rows[1]["seconds"] - 1
    lines += ["", f"Sandbox cost (--workers 1 against --workers 1 --unsafe-no-sandbox): {100 * overhead:+.1f}%", ""]
    parts = where_the_time_goes(assignment)
    lines += ["One solution with one worker, its slot started ahead:", "", "| part | seconds |", "|---|---|"]
    lines += [f"| {part} | {value:.1f} |" for part, value in parts.items()]
    report = "\n".join(lines)
    print("\n" + report)
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "bench-autograde.md").write_text(report + "\n")
    (ROOT / "build" / "bench-autograde.json").write_text(json.dumps({"rows": rows, "parts": parts}, indent=1))


if __name__ == "__main__":
    main()
