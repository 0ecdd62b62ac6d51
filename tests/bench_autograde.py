"""Benchmark: one class graded four ways, and where one submission's time goes.

    make bench-autograde            (or: python tests/bench_autograde.py [--assignment A])

The class (12 submissions of one assignment: solutions, correct variants,
typical mistakes, blanks) is graded by plain serial ``nbgrader autograde``,
then by ``python -m dlcourse autograde`` with 1 worker without the sandbox,
1 worker, and 2 workers. Each way starts from a fresh copy of the course.
The table (and build/bench-autograde.{md,json}) gives submissions per minute
and the ratio to plain nbgrader. Then one solution is run cell by cell in
the sandboxed kernel to show where its time goes.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nbclient import NotebookClient  # noqa: E402

from conftest import ROOT  # noqa: E402
from dlcourse.host import grader, instructor, sandbox  # noqa: E402
from dlcourse.host.nbgrader_process import NBGRADER_MAIN  # noqa: E402
from dlcourse.host.submission import Limits  # noqa: E402
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
    grade(course)
    seconds = time.monotonic() - start
    print(f"  {label}: {seconds:.0f} s", flush=True)
    return {"way": label, "seconds": round(seconds, 1), "per_minute": round(60 * len(notebooks) / seconds, 2)}


def nbgrader_start():
    """Seconds for one nbgrader process to start (Python and its imports), as the grader starts it."""
    import subprocess

    start = time.monotonic()
    subprocess.run([sys.executable, "-c", NBGRADER_MAIN, "--version"], capture_output=True, check=True)
    return time.monotonic() - start


def where_the_time_goes(assignment):
    """Run the solution cell by cell in the sandboxed kernel; return {part: seconds}."""
    work = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    home, runtime, jupyter = (work / n for n in ("home", "runtime", "jupyter"))
    for folder in (home, runtime):
        folder.mkdir()
    sandbox.write_kernelspec(jupyter, [(work, work), (runtime, runtime), (home, home)], home)
    os.environ.update(JUPYTER_PATH=str(jupyter), NBGRADER_EXECUTION="autograde")
    notebook = solved(assignment)
    client = NotebookClient(notebook, kernel_name=sandbox.KERNEL_NAME, resources={"metadata": {"path": str(work)}},
                            record_timing=True, timeout=600)
    client.km = client.create_kernel_manager()
    # As in grading: Unix sockets and a connection file in a folder the sandbox can see.
    client.km.transport, client.km.ip = "ipc", str(runtime / "kernel")
    client.km.connection_file = str(runtime / "kernel.json")
    start = time.monotonic()
    with client.setup_kernel():
        started = time.monotonic() - start
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
    parts = {"nbgrader start (Python and imports, once per submission)": nbgrader_start(),
             "kernel start (bwrap + ipykernel)": started}

    def seconds(cell):
        timing = cell.metadata.get("execution", {})
        if "shell.execute_reply" not in timing:
            return 0.0
        from dateutil.parser import isoparse
        return (isoparse(timing["shell.execute_reply"]) - isoparse(timing["iopub.execute_input"])).total_seconds()

    meta = [c.metadata.get("nbgrader", {}) for c in notebook.cells]
    parts["setup cell (imports, TensorFlow start, data loading)"] = sum(
        seconds(c) for c, m in zip(notebook.cells, meta) if m.get("grade_id") == "setup")
    parts["test cells (training and checks)"] = sum(
        seconds(c) for c, m in zip(notebook.cells, meta) if m.get("grade") and c.cell_type == "code")
    parts["other cells"] = sum(seconds(c) for c, m in zip(notebook.cells, meta)
                               if c.cell_type == "code" and m.get("grade_id") != "setup" and not m.get("grade"))
    return {k: round(v, 1) for k, v in parts.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="a3_regression", choices=list(VARIANTS))
    args = parser.parse_args()
    assignment = args.assignment
    notebooks = the_class(assignment)
    print(f"Grading {len(notebooks)} submissions of {assignment} four ways on {os.cpu_count()} cores:", flush=True)
    rows = [
        timed("plain serial nbgrader autograde", lambda c: plain_nbgrader(c, assignment), assignment, notebooks),
        timed("--workers 1 --unsafe-no-sandbox", lambda c: grader.autograde_class(
            c, assignment, workers=1, limits=Limits(sandboxed=False), progress=False), assignment, notebooks),
        timed("--workers 1", lambda c: grader.autograde_class(c, assignment, workers=1, progress=False),
              assignment, notebooks),
        timed("--workers 2", lambda c: grader.autograde_class(c, assignment, workers=2, progress=False),
              assignment, notebooks),
    ]
    base = rows[0]["seconds"]
    lines = [f"Autograding {len(notebooks)} submissions of {assignment}, {os.cpu_count()} cores", "",
             "| way | wall time | submissions per minute | speed-up vs plain nbgrader |", "|---|---|---|---|"]
    lines += [f"| {r['way']} | {r['seconds']:.0f} s | {r['per_minute']:.2f} | {base / r['seconds']:.2f}x |" for r in rows]
    overhead = rows[2]["seconds"] / rows[1]["seconds"] - 1
    lines += ["", f"Sandbox cost (--workers 1 against --workers 1 --unsafe-no-sandbox): {100 * overhead:+.1f}%", ""]
    parts = where_the_time_goes(assignment)
    lines += ["One solution, cell by cell in the sandboxed kernel:", "", "| part | seconds |", "|---|---|"]
    lines += [f"| {part} | {value:.1f} |" for part, value in parts.items()]
    report = "\n".join(lines)
    print("\n" + report)
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "bench-autograde.md").write_text(report + "\n")
    (ROOT / "build" / "bench-autograde.json").write_text(json.dumps({"rows": rows, "parts": parts}, indent=1))


if __name__ == "__main__":
    main()
