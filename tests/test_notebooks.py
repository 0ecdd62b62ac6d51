"""Execute every course notebook in full and check the slides' bands.

Lectures must run top to bottom in full, and the results they record must
land inside the bands of dlcourse.host.lectures.bands, on TensorFlow (the default)
and on JAX; on PyTorch they run in fast mode (`make bench-backends` runs
every lecture in full on every backend). Solution notebooks have no bands:
their experiments only have to run, so they run in fast mode (FAST = True, a
few epochs each); `make course` runs them in full. Student versions under
assignments/ must run too, failing only where the student has to work.

Executed notebooks are kept in build/cache (dlcourse.host.lectures.cache): re-running
the tests re-executes only the notebooks whose inputs changed. A fresh clone,
as in CI, has no cache; `rm -r build/cache` (or `make clean`) empties it.
"""

import os
from dataclasses import replace

import nbformat
import pytest
from nbclient import NotebookClient

from dlcourse.host import backends
from dlcourse.host.lectures import bands, runner
from dlcourse.host.course import Course
from conftest import ROOT

COURSE = Course.at(ROOT)
LECTURES = runner.find_notebooks([COURSE.lectures])
SOLUTIONS = runner.find_notebooks([COURSE.source()])
STUDENT_VERSIONS = runner.find_notebooks([COURSE.release()])
# Under `make test` the notebooks run beside the grading (tests/conftest.py): each kernel gets its
# lane's share of the cores (PyTorch's threads, waiting for a core the other lane holds, made its
# lectures several times slower).
LANES = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", 1))
OPTIONS = runner.RunOptions(output_dir=ROOT / "build" / "executed", progress=False, cache_dir=ROOT / "build" / "cache",
                            backend=backends.DEFAULT, threads=backends.share_of_cores(LANES) if LANES > 1 else None)
# Lectures in full, with their bands, on the default backend and on JAX (PyTorch in full does not
# fit into CI's time beside them: `make bench-backends` runs it).
IN_FULL_ON = (backends.DEFAULT, "jax")
IN_FULL = [(path, name) for name in IN_FULL_ON for path in LECTURES]
# Every other lecture and backend: in fast mode.
IN_FAST_MODE = [(path, name) for name in backends.PACKAGES for path in LECTURES if (path, name) not in IN_FULL]


def run_id(run):
    path, backend = run
    return f"{path.relative_to(ROOT)}-{backend}"


def on(backend):
    """The options of a run on ``backend``; its executed notebooks go to a folder of their own."""
    if backend == backends.DEFAULT:
        return OPTIONS
    return replace(OPTIONS, backend=backend, output_dir=OPTIONS.output_dir / backend)


def test_every_lecture_has_bands():
    missing = [nb.name for nb in LECTURES if not bands.bands_for(nb)]
    assert not missing, f"lectures without reference bands in dlcourse/host/lectures/bands.py: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("path,backend", IN_FULL, ids=map(run_id, IN_FULL))
def test_lecture_runs_and_meets_its_bands(path, backend):
    result = runner.run_notebook(path, on(backend))
    assert result.error is None, f"{path.name} failed on {backend}: {result.error}"
    assert result.backend == backend, f"{path.name} recorded results computed on {result.backend}, not {backend}"
    missed = [f"{c.band}: got {c.value} (slides: {c.slide})" for c in result.checks if not c.ok]
    assert not missed, f"{path.name} missed its bands on {backend}: {missed}"


@pytest.mark.slow
@pytest.mark.parametrize("path,backend", IN_FAST_MODE, ids=map(run_id, IN_FAST_MODE))
def test_lecture_runs_in_fast_mode(path, backend):
    result = runner.run_notebook(path, replace(on(backend), fast=True))
    assert result.error is None, f"{path.name} failed on {backend}: {result.error}"
    assert result.backend == backend, f"{path.name} recorded results computed on {result.backend}, not {backend}"


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_solution_runs_top_to_bottom(path):
    result = runner.run_notebook(path, replace(OPTIONS, fast=True))
    assert result.error is None, f"{path.name} failed: {result.error}"


@pytest.mark.slow
@pytest.mark.parametrize("path", STUDENT_VERSIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_student_version_fails_only_where_students_work(path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, allow_errors=True, kernel_name=runner.KERNEL_NAME,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = {o.ename for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"}
    assert errors <= {"NotImplementedError", "AssertionError", "NameError"}, (
        f"{path.name} raised {errors}; a fresh student version may only fail on unsolved exercises"
    )
    assert "NotImplementedError" in errors, (
        f"{path.name} ran without reaching an unsolved exercise: is a solution left in the student version?"
    )
