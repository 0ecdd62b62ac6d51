"""The notebook runner: parameters, recorded results, bands, failures, timeouts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from dlcourse.host import backends
from dlcourse.host.lectures import bands, recorded, runner
from conftest import ROOT


def write_notebook(path, *sources, parameters="FAST = False"):
    cell = new_code_cell(parameters, metadata={"tags": ["parameters"]})
    nb = new_notebook(cells=[cell] + [new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def quiet(output_dir, **options):
    """Run options for a test: into ``output_dir``, without papermill's progress bar."""
    return runner.RunOptions(output_dir=output_dir, progress=False, **options)


RECORD = "from dlcourse import results\nresults.record(test_accuracy=0.5 if FAST else 0.99, epochs=[1, 2])"


def test_records_are_read_from_the_executed_notebook(tmp_path):
    nb = write_notebook(tmp_path / "demo.ipynb", RECORD)
    result = runner.run_notebook(nb, quiet(tmp_path / "out"))
    assert result.error is None
    assert result.metrics == {"test_accuracy": 0.99, "epochs": [1, 2]}
    assert recorded.read(result.output) == result.metrics
    assert result.peak_mb > 10, "the kernel's memory was not measured"


def test_fast_mode_goes_through_the_parameters_cell(tmp_path):
    nb = write_notebook(tmp_path / "demo.ipynb", RECORD)
    result = runner.run_notebook(nb, quiet(tmp_path / "out", fast=True))
    assert result.metrics["test_accuracy"] == 0.5
    assert result.checks == [] and result.ok


def test_bands_are_checked_on_full_runs(tmp_path):
    nb = write_notebook(tmp_path / "01_mnist.ipynb", RECORD.replace("0.99", "0.5"))
    result = runner.run_notebook(nb, quiet(tmp_path / "out"))
    assert [c.ok for c in result.checks] == [False] and not result.ok
    assert "MISSED" in runner.format_summary([result])


def test_band_arithmetic():
    band = bands.Band("a", minus="b", low=0.03)
    assert band.value({"a": 0.80, "b": 0.70}) == pytest.approx(0.10) and band.contains(0.10)
    assert not band.contains(0.01)
    with pytest.raises(KeyError, match="'b'"):
        band.value({"a": 1.0})


def test_a_failing_cell_is_reported_with_its_source(tmp_path):
    nb = write_notebook(tmp_path / "broken.ipynb", "x = 1", "y = x / 0")
    result = runner.run_notebook(nb, quiet(tmp_path / "out"))
    assert not result.ok
    assert "ZeroDivisionError" in result.error and "y = x / 0" in result.error


def test_a_kernel_that_dies_is_reported_with_its_cell(tmp_path):
    nb = write_notebook(tmp_path / "dies.ipynb", "x = 1", "import os\nos._exit(1)", "y = 2")
    result = runner.run_notebook(nb, quiet(tmp_path / "out"))
    assert "the kernel died while running cell 3, which starts `import os`" in result.error, result.error


def test_a_kernel_that_never_starts_is_blamed_on_the_machine(tmp_path, monkeypatch):
    """The course's kernel, replaced by one that exits at once, found first on JUPYTER_PATH."""
    spec = tmp_path / "jupyter" / "kernels" / runner.KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": ["sh", "-c", "exit 1", "{connection_file}"],
                                                  "display_name": "broken", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    result = runner.run_notebook(write_notebook(tmp_path / "any.ipynb", "x = 1"), quiet(tmp_path / "out"))
    assert "the kernel did not start, so no cell ran" in result.error and "make venv" in result.error, result.error


def test_a_notebook_that_runs_too_long_is_stopped(tmp_path):
    """Each of its cells is short, but together they pass the notebook's limit."""
    nb = write_notebook(tmp_path / "slow.ipynb", *["import time\ntime.sleep(2)"] * 30)
    result = runner.run_notebook(nb, quiet(tmp_path / "out", timeout=5, cell_timeout=60))
    assert "timed out after 5 s" in result.error
    assert result.seconds < 40


def test_stopping_a_notebook_spares_processes_that_were_there_before(tmp_path):
    """Only the kernel is stopped: not, say, a helper the test runner started earlier."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        nb = write_notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(60)")
        result = runner.run_notebook(nb, quiet(tmp_path / "out", timeout=5, cell_timeout=60))
        assert "timed out after 5 s" in result.error
        assert bystander.poll() is None, "the runner killed a process that was not its kernel"
    finally:
        bystander.kill()


def test_a_cell_that_runs_too_long_is_stopped(tmp_path):
    nb = write_notebook(tmp_path / "slow_cell.ipynb", "import time\ntime.sleep(120)")
    result = runner.run_notebook(nb, quiet(tmp_path / "out", timeout=600, cell_timeout=3))
    assert "a cell ran longer than 3 s" in result.error and "--cell-timeout" in result.error
    assert result.seconds < 60


def test_a_corrupt_notebook_gets_a_clear_error(tmp_path):
    bad = tmp_path / "corrupt.ipynb"
    bad.write_text('{"cells": [ ')
    with pytest.raises(runner.NotebookError, match="corrupt.ipynb is not a valid notebook.*Fix"):
        runner.run([bad], runner.RunOptions(output_dir=tmp_path / "out"))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "dlcourse", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_rejects_wrong_arguments(tmp_path):
    missing = run_cli("run", str(tmp_path / "nope.ipynb"))
    assert missing.returncode != 0 and "nope.ipynb is not a notebook" in missing.stderr
    zero = run_cli("run", "--timeout", "0", "lectures")
    assert zero.returncode != 0 and "--timeout: must be a positive" in zero.stderr
    zero = run_cli("run", "--cell-timeout", "0", "lectures")
    assert zero.returncode != 0 and "--cell-timeout: must be a positive" in zero.stderr


def test_cli_summary_and_exit_code(tmp_path):
    write_notebook(tmp_path / "good.ipynb", RECORD)
    write_notebook(tmp_path / "bad.ipynb", "raise RuntimeError('boom')")
    done = run_cli("run", "--no-progress", "--output-dir", str(tmp_path / "out"), "--summary-dir",
                   str(tmp_path / "build"), str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert (tmp_path / "out" / tmp_path.name / "good.ipynb").is_file()
    summary = {Path(r["notebook"]).name: r for r in json.loads((tmp_path / "build" / "summary.json").read_text())}
    assert summary["good.ipynb"]["ok"] and summary["good.ipynb"]["metrics"]["test_accuracy"] == 0.99
    assert not summary["bad.ipynb"]["ok"] and "RuntimeError: boom" in summary["bad.ipynb"]["error"]
    assert (tmp_path / "build" / "summary.md").read_text() in done.stdout


# The development loop's cache: re-running re-executes only what changed.

COUNT_RUNS = ("from pathlib import Path\n"
              "runs = Path('runs.txt'); runs.write_text(runs.read_text() + 'x' if runs.exists() else 'x')\n"
              "from dlcourse import results\nresults.record(runs=len(runs.read_text()))")


def runs_so_far(tmp_path):
    return len((tmp_path / "runs.txt").read_text())


def test_an_unchanged_notebook_comes_from_the_cache(tmp_path):
    nb = write_notebook(tmp_path / "demo.ipynb", COUNT_RUNS)
    first = runner.run_notebook(nb, quiet(tmp_path / "out", cache_dir=tmp_path / "cache"))
    again = runner.run_notebook(nb, quiet(tmp_path / "out2", cache_dir=tmp_path / "cache"))
    assert runs_so_far(tmp_path) == 1, "the unchanged notebook was executed again"
    assert (first.cached, again.cached) == (False, True)
    assert again.metrics == first.metrics == {"runs": 1}, "the cached executed notebook was not copied"
    assert (again.seconds, again.peak_mb) == pytest.approx((first.seconds, first.peak_mb))
    assert "demo.ipynb (cached)" in runner.format_summary([again])


def test_a_changed_notebook_is_executed_again(tmp_path):
    nb = write_notebook(tmp_path / "demo.ipynb", COUNT_RUNS)
    runner.run_notebook(nb, quiet(tmp_path / "out", cache_dir=tmp_path / "cache"))
    write_notebook(nb, COUNT_RUNS, "print('one more cell')")
    result = runner.run_notebook(nb, quiet(tmp_path / "out", cache_dir=tmp_path / "cache"))
    assert not result.cached and result.metrics == {"runs": 2}
    fast = runner.run_notebook(nb, quiet(tmp_path / "out", fast=True, cache_dir=tmp_path / "cache"))
    assert not fast.cached, "a fast run was served the full run's notebook"


def test_the_key_covers_the_kernel_side_package_and_not_the_host_side(tmp_path, monkeypatch):
    from dlcourse.host.lectures import cache

    kernel_side = {p.relative_to(cache.PACKAGE).as_posix() for p in cache.kernel_side_files()}
    assert {"results.py", "datasets/files.py", "preprocessing.py"} <= kernel_side
    assert not [p for p in kernel_side if p.startswith("host/")], "host-side code would invalidate every entry"
    nb = write_notebook(tmp_path / "demo.ipynb", "x = 1")
    before = cache.key(nb)
    assert cache.key(nb) == before and cache.key(nb, fast=True) != before
    package = tmp_path / "course" / "dlcourse"
    (package / "host").mkdir(parents=True)
    monkeypatch.setattr(cache, "PACKAGE", package)
    monkeypatch.setattr(cache, "COURSE", package.parent)
    (package / "plotting.py").write_text("")
    empty = cache.key(nb)
    (package / "host" / "runner.py").write_text("changed = True")
    assert cache.key(nb) == empty, "a host-side change invalidated the entry"
    (package / "plotting.py").write_text("changed = True")
    assert cache.key(nb) != empty, "a kernel-side change kept the entry"


def test_a_failed_run_is_not_cached(tmp_path):
    nb = write_notebook(tmp_path / "demo.ipynb", COUNT_RUNS, "1 / 0")
    for _ in range(2):
        result = runner.run_notebook(nb, quiet(tmp_path / "out", cache_dir=tmp_path / "cache"))
        assert result.error and not result.cached
    assert runs_so_far(tmp_path) == 2
    assert not list((tmp_path / "cache").glob("*")), "a failed run left an entry"


def test_the_summary_names_long_cells_that_show_no_progress(tmp_path):
    nb = write_notebook(tmp_path / "demo.ipynb", "import time\ntime.sleep(1.5)", "time.sleep(1.5)\nprint('done')")
    result = runner.run_notebook(nb, quiet(tmp_path / "out"))
    executed = nbformat.read(result.output, as_version=4)
    assert runner.silent_long_cells(executed, seconds=1) == ["[1] import time (2 s)"]
    assert result.silent_cells == [], "a 1.5 s cell is not a long one"
    result.silent_cells = ["[1] import time (31 s)"]
    assert "cells over 30 s that showed no progress: [1] import time (31 s)" in runner.format_summary([result])


# Several notebooks at a time (`--jobs`), each in a worker process of its own.

WINDOW = ("import os, time\nstart = time.time()\ntime.sleep(4)\n"
          "from dlcourse import results\nresults.record(start=start, end=time.time(), "
          "threads=int(os.environ.get('OMP_NUM_THREADS', 0)))")


def test_notebooks_run_side_by_side_and_come_back_in_their_order(tmp_path):
    for name in ("a", "b"):
        write_notebook(tmp_path / f"{name}.ipynb", WINDOW)
    write_notebook(tmp_path / "c_broken.ipynb", "1 / 0")
    results = runner.run([tmp_path], quiet(tmp_path / "out"), summary_dir=tmp_path / "build", jobs=2)
    assert [Path(r.notebook).name for r in results] == ["a.ipynb", "b.ipynb", "c_broken.ipynb"]
    a, b, broken = results
    assert a.ok and b.ok and "ZeroDivisionError" in broken.error, "one failure must not stop the others"
    assert max(a.metrics["start"], b.metrics["start"]) < min(a.metrics["end"], b.metrics["end"]), \
        "the two notebooks did not run at the same time"
    assert a.peak_mb > 10 and b.peak_mb > 10, "each kernel's memory is measured in its own worker"
    assert a.metrics["threads"] == b.metrics["threads"] == backends.share_of_cores(2), \
        "kernels side by side must each get a share of the cores, not a thread per core"
    summary = (tmp_path / "build" / "summary.md").read_text()
    assert "from start to end with 2 at a time" in summary


def test_the_longest_notebook_of_the_last_run_starts_first(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps([{"notebook": "x/short.ipynb", "seconds": 5},
                                                       {"notebook": "x/long.ipynb", "seconds": 300}]))
    last = runner.previous_seconds(tmp_path)
    assert last == {"x/short.ipynb": 5, "x/long.ipynb": 300}
    notebooks = [Path("x/new.ipynb"), Path("x/short.ipynb"), Path("x/long.ipynb"), Path("x/other.ipynb")]
    assert runner.longest_first(notebooks, last) == [Path(f"x/{n}.ipynb") for n in ("long", "short", "new", "other")]
    (tmp_path / "summary.json").write_text("{not json")
    assert runner.previous_seconds(tmp_path) == {}, "a damaged summary must not stop the run"
    assert runner.previous_seconds(tmp_path / "missing") == {}


def test_cli_rejects_zero_jobs():
    zero = run_cli("run", "--jobs", "0", "lectures")
    assert zero.returncode != 0 and "--jobs: must be a positive" in zero.stderr


THREADS = ("import os\nfrom dlcourse import results\n"
           "results.record(**{name.lower(): int(os.environ.get(name, 0)) for name in "
           "('TF_NUM_INTRAOP_THREADS', 'TF_NUM_INTEROP_THREADS', 'OMP_NUM_THREADS')})")


def test_a_kernel_gets_the_threads_it_is_given_and_the_users_choice_wins(tmp_path, monkeypatch):
    nb = write_notebook(tmp_path / "threads.ipynb", THREADS)
    for name in backends.thread_variables(1):
        monkeypatch.delenv(name, raising=False)
    given = runner.run_notebook(nb, quiet(tmp_path / "given", threads=3))
    assert given.metrics == {"tf_num_intraop_threads": 3, "tf_num_interop_threads": 3, "omp_num_threads": 3}
    assert not any(name in os.environ for name in backends.thread_variables(1)), "the runner must restore them"
    unlimited = runner.run_notebook(nb, quiet(tmp_path / "unlimited"))
    assert set(unlimited.metrics.values()) == {0}, "without threads the backend chooses its own"
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    users = runner.run_notebook(nb, quiet(tmp_path / "users", threads=3))
    assert users.metrics["omp_num_threads"] == 7 and users.metrics["tf_num_intraop_threads"] == 3
