"""Execute notebooks with papermill and print a summary of what they produced.

``python -m dlcourse run lectures/`` executes every notebook into
``build/executed/``, then prints one row per recorded metric: wall time, peak
resident memory of the kernel, the value, the slide's value, the band, and
whether the value is inside it. The summary is also written to
``build/summary.md`` and ``build/summary.json`` (``--summary-dir``).

Two limits: ``timeout`` for a whole notebook (the runner stops the kernel),
and ``cell_timeout`` for one cell (papermill stops the cell). With
``cache_dir``, a notebook whose inputs did not change since its last good run
is taken from the cache (:mod:`dlcourse.host.lectures.cache`) instead of executed.
With ``jobs`` > 1, that many notebooks run at a time, each in a worker
process of its own (``make course`` runs one per core). Every kernel runs on
the Keras backend of the options (``KERAS_BACKEND``, else TensorFlow); a
notebook whose recorded results came from another backend fails.
"""

import contextlib
import json
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import nbformat
import papermill
import psutil
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from dlcourse import jupyter

from . import bands, cache, recorded
from .. import backends
from ..errors import UserError
from ..processes import kill, process_tree, rss_bytes

LONG_CELL = 30  # seconds; a cell that runs longer should show the student that it is working
KERNEL_NAME = jupyter.KERNEL_NAME


class NotebookError(UserError):
    """A notebook could not be read, or the runner was given a wrong path."""


@dataclass(frozen=True)
class RunOptions:
    """How each notebook is executed; ``python -m dlcourse run`` builds one from its flags."""
    output_dir: Path = Path("build/executed")  # executed notebooks go to <output_dir>/<their folder>/
    fast: bool = False          # set the FAST parameter; bands are not checked
    timeout: int = 1800         # seconds for a whole notebook
    # seconds for one cell: room for the longest, Lecture 2's grid search, when it gets half the cores
    # (in `make test` the grading tests share them); each executed notebook records its cells' times
    cell_timeout: int = 1500
    progress: bool = True       # papermill's progress bar
    cache_dir: Path | None = None  # take unchanged notebooks from this cache (dlcourse.host.lectures.cache)
    backend: str = field(default_factory=backends.chosen)  # Keras's backend: KERAS_BACKEND, or tensorflow
    # each kernel's threads for its backend's arithmetic (backends.thread_variables), for kernels that share
    # the cores with other work; None: as many as the backend likes
    threads: int | None = None


@dataclass
class Check:
    band: str
    value: float | None
    slide: str
    ok: bool


@dataclass
class Result:
    notebook: str
    output: str
    seconds: float = 0.0
    peak_mb: float = 0.0
    fast: bool = False
    cached: bool = False
    backend: str | None = None  # the Keras backend the notebook's recorded results were computed on
    metrics: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    silent_cells: list = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self):
        return self.error is None and all(c.ok for c in self.checks)


def find_notebooks(paths):
    """Return the notebooks named by ``paths`` (folders are searched), sorted.

    Raises:
        NotebookError: a path does not exist or is not a notebook.
    """
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += [p for p in sorted(path.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
        elif path.suffix == ".ipynb" and path.is_file():
            found.append(path)
        else:
            raise NotebookError(f"{path} is not a notebook or a folder of notebooks. Fix: pass .ipynb files or folders.")
    return found


def read_notebook(path):
    """Return the notebook at ``path``, validated.

    Raises:
        NotebookError: the file is not valid JSON or not a valid notebook.
    """
    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:
        raise NotebookError(
            f"{path} is not a valid notebook ({type(exc).__name__}: {str(exc).splitlines()[0]}). "
            "Fix: restore it from git (`git checkout -- PATH`) or re-save it from JupyterLab."
        ) from exc
    return notebook


class KernelWatch:
    """Sample the memory of the processes this process starts while the watch
    is on (the kernel and its children) and stop them if the notebook runs
    longer than ``timeout`` seconds. Children that were there before (a test
    runner's helpers, say) are neither counted nor stopped."""

    def __init__(self, timeout, interval=0.1):
        self.timeout, self.interval = timeout, interval
        self.peak_bytes, self.timed_out = 0, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._me = psutil.Process()

    def __enter__(self):
        self._before = {child.pid for child in self._me.children()}
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def kernel_processes(self):
        """Return the processes started since the watch began, with their children."""
        new = [child.pid for child in self._me.children() if child.pid not in self._before]
        return [process for pid in new for process in process_tree(pid)]

    def _watch(self):
        while not self._stop.wait(self.interval):
            processes = self.kernel_processes()
            self.peak_bytes = max(self.peak_bytes, rss_bytes(processes))
            if time.monotonic() - self._start > self.timeout:
                self.timed_out = True
                kill(processes)
                return


def last_started_cell(output):
    """Return "cell N, which starts `...`" for the last cell papermill started
    in the executed notebook ``output``, or "a cell" if there is none."""
    try:
        cells = nbformat.read(output, as_version=4).cells
    except (OSError, ValueError):
        return "a cell"
    started = [(i, c) for i, c in enumerate(cells, start=1) if c.metadata.get("papermill", {}).get("start_time")]
    if not started:
        return "a cell"
    number, cell = started[-1]
    return f"cell {number}, which starts `{cell.source.strip().splitlines()[0][:80]}`"


def describe_failure(exc, watch, timeout, cell_timeout, output):
    """Return a readable account of why a notebook failed (``output``: the
    executed notebook, to name the cell where the kernel died)."""
    if watch.timed_out:  # the runner stopped the kernel itself
        return f"timed out after {timeout} s; the kernel was stopped. Fix: speed the notebook up or pass a larger --timeout."
    if "Kernel died before replying to kernel_info" in str(exc):
        return (f"the kernel did not start, so no cell ran: a fault of this machine's set-up, not of the notebook "
                f"({exc}). Fix: reinstall the course's kernel with `make venv`, then run again.")
    if isinstance(exc, DeadKernelError):
        return (f"the kernel died while running {last_started_cell(output)} (the code exited the process or "
                "crashed; often it ran out of memory).")
    if isinstance(exc, CellTimeoutError):
        return (f"a cell ran longer than {cell_timeout} s and was stopped. "
                "Fix: speed the cell up or pass a larger --cell-timeout.")
    if isinstance(exc, papermill.PapermillExecutionError):
        source = "\n".join("    " + line for line in exc.source.splitlines())
        return f"cell In [{exc.exec_count}] raised {exc.ename}: {exc.evalue}\n{source}"
    return f"{type(exc).__name__}: {exc}"


def check_bands(path, metrics):
    """Return one Check per band of the notebook at ``path``."""
    checks = []
    for band in bands.bands_for(path):
        try:
            value = band.value(metrics)
        except KeyError as exc:
            checks.append(Check(f"{band.label} {band.describe()} ({exc.args[0]})", None, band.slide, False))
            continue
        checks.append(Check(f"{band.label} {band.describe()}", value, band.slide, band.contains(value)))
    return checks


def run_notebook(path, options=None):
    """Execute one notebook as ``options`` say (default: :class:`RunOptions`) and return its Result. Never
    raises for a notebook that fails (unreadable ones included): the failure is
    in ``Result.error``. :func:`run` checks every notebook first. With a
    ``cache_dir``, an unchanged notebook is copied from the cache instead.
    """
    options = options or RunOptions()
    path = Path(path)
    output = Path(options.output_dir) / path.parent.name / path.name
    output.parent.mkdir(parents=True, exist_ok=True)
    cache_dir = options.cache_dir
    notebook_key = cache.key(path, options.fast, options.backend) if cache_dir else None
    stored = cache.load(cache_dir, notebook_key, output) if cache_dir else None
    if stored:
        result = Result(str(path), str(output), stored["seconds"], stored["peak_mb"], options.fast, cached=True)
    else:
        result = execute(path, output, options)
    if output.exists():
        executed = nbformat.read(output, as_version=4)
        result.metrics = recorded.read(executed)
        result.backend = recorded.keras_backend(executed)
        result.silent_cells = silent_long_cells(executed)
        if result.error is None and result.backend not in (None, options.backend):
            result.error = (f"it ran on the Keras backend {result.backend!r}, not {options.backend!r}: something "
                            "in the notebook or the kernel's environment chose its own. Fix: remove that choice.")
    if cache_dir and not stored and result.error is None:
        cache.store(cache_dir, notebook_key, output, {"seconds": result.seconds, "peak_mb": result.peak_mb})
    if result.error is None and not options.fast:
        result.checks = check_bands(path, result.metrics)
    return result


def execute(path, output, options):
    """Execute ``path`` into ``output`` with papermill; return a Result with
    the time, the kernel's peak memory, and the error if any."""
    result = Result(str(path), str(output), fast=options.fast)
    start = time.monotonic()
    with kernel_environment(options.backend, options.threads), KernelWatch(options.timeout) as watch:
        try:
            papermill.execute_notebook(
                str(path),
                str(output),
                parameters={"FAST": True} if options.fast else {},
                kernel_name=KERNEL_NAME,
                progress_bar=options.progress,
                cwd=str(path.parent),
                execution_timeout=options.cell_timeout,
            )
        except Exception as exc:  # papermill, nbclient and the kernel raise many kinds
            result.error = describe_failure(exc, watch, options.timeout, options.cell_timeout, output)
    result.seconds = time.monotonic() - start
    result.peak_mb = watch.peak_bytes / 2**20
    return result


@contextlib.contextmanager
def kernel_environment(backend, threads=None):
    """Within the block, kernels started by this process run on the Keras
    ``backend`` (they inherit ``KERAS_BACKEND``) and, with ``threads``, with
    that many threads (:func:`backends.thread_variables`; one the user set
    wins); the variables are restored after."""
    wanted = {backends.VARIABLE: backend}
    if threads:
        wanted |= {name: value for name, value in backends.thread_variables(threads).items() if name not in os.environ}
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def silent_long_cells(executed, seconds=LONG_CELL):
    """Return "[index] first line (N s)" for each code cell of the executed
    notebook (a NotebookNode) that ran longer than ``seconds`` and wrote
    nothing to stdout."""
    return [f"[{i}] {cell.source.splitlines()[0]} ({cell.metadata.papermill.duration:.0f} s)"
            for i, cell in enumerate(executed.cells)
            if cell.cell_type == "code" and (cell.metadata.get("papermill", {}).get("duration") or 0) > seconds
            and not any(o.output_type == "stream" and o.name == "stdout" for o in cell.outputs)]


def summary_rows(result):
    """Return the summary table's rows for one notebook."""
    name = result.notebook + (" (cached)" if result.cached else "")
    head = [name, f"{result.seconds:.0f} s", f"{result.peak_mb:.0f} MB"]
    if result.error:
        return [head + ["", "", "", "FAILED"]]
    if result.fast:
        shown = [(name, value, "", "fast run: not checked")
                 for name, value in result.metrics.items() if not isinstance(value, list)]
    else:
        shown = [(c.band, c.value, c.slide, "ok" if c.ok else "MISSED") for c in result.checks]
    if not shown:
        return [head + ["(no bands)", "", "", "ok"]]
    rows = []
    for i, (name, value, slide, status) in enumerate(shown):
        text = "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
        rows.append((head if i == 0 else ["", "", ""]) + [name, text, slide, status])
    return rows


def format_summary(run_results, wall_seconds=None, jobs=1, backend=None):
    """Return the summary of a run as a Markdown table, failures after it.
    ``wall_seconds`` is the whole run's time, shown beside the notebooks' sum;
    ``backend`` the Keras backend the run asked for."""
    header = ["notebook", "wall time", "peak memory", "metric and band", "value", "slide", "status"]
    rows = [row for r in run_results for row in summary_rows(r)]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    table = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows]
    total = sum(r.seconds for r in run_results)
    cached = sum(r.cached for r in run_results)
    wall = "" if wall_seconds is None else f", {wall_seconds:.0f} s from start to end with {jobs} at a time"
    on = f" on the Keras backend {backend}" if backend else ""
    table.append(f"\nTotal: {total:.0f} s for {len(run_results)} notebook(s){on}{wall}"
                 + (f" ({cached} from the cache: their time is the run that made the entry)" if cached else "")
                 + f"; {sum(not r.ok for r in run_results)} failed or missed a band.")
    for r in run_results:
        if r.error:
            table.append(f"\n{r.notebook} FAILED: {r.error}")
        if r.silent_cells:
            table.append(f"\n{r.notebook}: cells over {LONG_CELL} s that showed no progress: {'; '.join(r.silent_cells)}")
    return "\n".join(table)


def checked_notebooks(paths):
    """Return the notebooks named by ``paths``, each read once to check it.

    Raises:
        NotebookError: a path is wrong, nothing was found, or a notebook
            cannot be read (checked for all before any is executed).
    """
    notebooks = find_notebooks(paths)
    if not notebooks:
        raise NotebookError(f"No notebooks found in {', '.join(map(str, paths))}.")
    for notebook in notebooks:
        read_notebook(notebook)
    return notebooks


def save_summary(run_results, text, folder):
    """Write ``summary.md`` (the table ``text``) and ``summary.json`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.md").write_text(text + "\n")
    (folder / "summary.json").write_text(json.dumps([asdict(r) | {"ok": r.ok} for r in run_results], indent=2))


def previous_seconds(summary_dir):
    """Return {notebook: seconds} from the last run's ``summary.json`` in
    ``summary_dir``, or {} if there is none (a fresh clone)."""
    try:
        return {r["notebook"]: r["seconds"] for r in json.loads((Path(summary_dir) / "summary.json").read_text())}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def longest_first(notebooks, last_seconds):
    """Return ``notebooks`` sorted by their time in ``last_seconds``, longest
    first (so that a long one does not start last); unknown ones keep their order."""
    return sorted(notebooks, key=lambda nb: -last_seconds.get(str(nb), 0))


def report(result):
    """Print one line: the notebook, ok or FAILED, and its time."""
    state = "ok" if result.ok else "FAILED"
    when = "from the cache" if result.cached else f"in {result.seconds:.0f} s"
    print(f"    {result.notebook} {state} {when}", flush=True)


def execute_all(notebooks, jobs, options, last_seconds):
    """Return the Results of ``notebooks`` in their order, ``jobs`` at a time.

    With ``jobs`` > 1 each notebook runs in a worker process of its own (so
    the kernel's memory and the time limit are measured per notebook), the
    longest in ``last_seconds`` first, and papermill's progress bar is off.
    """
    if jobs == 1:
        results = []
        for notebook in notebooks:
            print(f"==> {notebook}{' (fast)' if options.fast else ''}", flush=True)
            results.append(run_notebook(notebook, options))
            report(results[-1])
        return results
    order = longest_first(notebooks, last_seconds)
    # Each kernel gets an equal share of the cores: one thread per core in each makes them wait for each other.
    options = replace(options, progress=False, threads=options.threads or backends.share_of_cores(jobs))
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_notebook, notebook, options): notebook for notebook in order}
        print(f"==> {len(order)} notebooks, {jobs} at a time: {', '.join(map(str, order))}", flush=True)
        results = {}
        for future in as_completed(futures):
            results[futures[future]] = outcome(future, futures[future], options.output_dir)
            report(results[futures[future]])
    return [results[notebook] for notebook in notebooks]


def outcome(future, notebook, output_dir):
    """Return the Result of a finished worker, or a failed one if the worker died."""
    try:
        return future.result()
    except Exception as exc:  # e.g. BrokenProcessPool: the worker was killed (out of memory?)
        return Result(str(notebook), str(Path(output_dir) / notebook.parent.name / notebook.name),
                      error=f"its worker process failed ({type(exc).__name__}: {exc}). Fix: run it alone with --jobs 1.")


def run(paths, options=None, summary_dir="build", jobs=1):
    """Execute every notebook in ``paths`` as ``options`` say, ``jobs`` at a
    time; print the summary and save it into ``summary_dir``; return the list
    of Results.

    Raises:
        NotebookError: as :func:`checked_notebooks`.
        BackendError: the backend of ``options`` is not installed here.
    """
    options = options or RunOptions()
    backends.require(options.backend)
    notebooks = checked_notebooks(paths)
    start = time.monotonic()
    jobs = min(jobs, len(notebooks))
    run_results = execute_all(notebooks, jobs, options, previous_seconds(summary_dir))
    text = format_summary(run_results, time.monotonic() - start, jobs, options.backend)
    print("\n" + text, flush=True)
    save_summary(run_results, text, summary_dir)
    return run_results
