"""A submission's nbgrader and kernel are started ahead, and serve it only.

nbgrader executes the notebook in the kernel started before the submission
arrived (not in a second one), that kernel serves one notebook only, and a
submission graded after another by the same worker finds nothing the first
one left: no module attribute, variable, environment variable or file.
"""

import nbformat
import pytest
from nbclient import NotebookClient

from dlcourse.host.grading import prelaunch, sandbox, whole_class
from dlcourse.host.course import Course
from submissions import new_course, solved, submit, with_cell

A3 = "a3_regression"
PRINT_PID = "import os\nprint(os.getpid())"
# Each submission first looks for what a submission before it could leave, then leaves it all.
TRACES = '''import builtins
import os
from pathlib import Path

import keras

places = {"a Keras attribute": hasattr(keras, "TRACE"), "a builtin": hasattr(builtins, "TRACE"),
          "an environment variable": "TRACE" in os.environ, "a file in its home": Path("~/trace").expanduser().exists(),
          "a file in /tmp": Path("/tmp/trace").exists(), "a file in its folder": Path("trace").exists()}
print("traces found:", sorted(name for name, found in places.items() if found))
keras.TRACE = builtins.TRACE = os.environ["TRACE"] = "left"
for path in ["~/trace", "/tmp/trace", "trace"]:
    Path(path).expanduser().write_text("left")'''


def pid_of_kernel_that_runs(tmp_path):
    """Execute a notebook printing its kernel's PID with the sandbox's kernelspec; return the PID."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PRINT_PID)])
    NotebookClient(notebook, kernel_name=prelaunch.SANDBOXED_KERNEL_NAME, timeout=60,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return int(notebook.cells[0].outputs[0].text)


def test_nbgrader_runs_the_notebook_in_the_kernel_started_ahead_once(tmp_path, monkeypatch):
    folder, runtime, home, jupyter = (tmp_path / name for name in ("submission", "runtime", "home", "jupyter"))
    for path in (folder, runtime, home / "tmp"):
        path.mkdir(parents=True)
    # Without the sandbox: there the kernel has a PID namespace of its own, and its PID says nothing.
    sandbox.write_kernelspec(jupyter, [(folder, folder), (runtime, runtime), (home, home)], home, sandboxed=False)
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    ahead = prelaunch.start_kernel_ahead(str(folder), str(runtime / sandbox.SOCKET))
    try:
        first = pid_of_kernel_that_runs(tmp_path)
        second = pid_of_kernel_that_runs(tmp_path)
    finally:
        ahead.shutdown_kernel(now=True)
    assert first == ahead.provisioner.pid, "the notebook ran in a new kernel, not in the one started ahead"
    assert second != first, "the kernel started ahead served a second notebook"


@pytest.mark.slow
def test_a_submission_finds_nothing_the_one_graded_before_it_left(tmp_path):
    course = new_course(tmp_path / "course")
    for student in ("first", "second"):
        submit(course, student, A3, with_cell(solved(A3), TRACES, after="setup"))
    outcomes = whole_class.autograde_class(course, A3, workers=1, progress=False)
    assert [o.student for o in outcomes] == ["first", "second"]
    for student in ("first", "second"):
        notebook = nbformat.read(Course.at(course).autograded(student, A3) / f"{A3}.ipynb", as_version=4)
        printed = "".join(o.get("text", "") for c in notebook.cells if "traces found" in c.source
                          for o in c.get("outputs", []))
        assert printed.strip() == "traces found: []", f"{student} found what another submission left: {printed}"
