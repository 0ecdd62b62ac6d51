"""Benchmark: every lecture on every Keras backend, side by side, in one run.

    make bench-backends [FAST=1]     (or: python tests/bench_backends.py [--fast] [--backend NAME ...])

Each backend runs the lectures one after the other, as `make course
KERAS_BACKEND=...` would with one job, and its bands are checked (not in
fast mode). The table (build/bench-backends.md and .json; in fast mode
build/bench-backends-fast.md and .json) gives each lecture's time per
backend, whether its bands were met, and how much disk each backend's
packages take in this environment (those that only it needs). It is written
again after each backend, so a run cut short keeps what it measured.
"""

import argparse
import json
import os
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import ROOT  # noqa: E402
from dlcourse.host import backends  # noqa: E402
from dlcourse.host.lectures import runner  # noqa: E402

OUT = ROOT / "build" / "bench-backends"


def requirements(path):
    """Return the package names a requirements file pins."""
    names = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.append(Requirement(line).name)
    return names


def closure(names):
    """Return the installed distributions ``names`` need, themselves included (lower-case names)."""
    found, todo = set(), [n.lower() for n in names]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found.add(name)
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name.lower())
    return found


def megabytes(names):
    """Return the disk size of the installed distributions ``names``, in MB."""
    total = 0
    for name in names:
        for file in metadata.distribution(name).files or []:
            path = file.locate()
            if path.is_file():
                total += path.stat().st_size
    return total / 2**20


def install_sizes():
    """Return {backend: MB} of what only that backend needs, beyond requirements.txt."""
    base = closure(requirements(ROOT / "requirements.txt"))
    return {name: round(megabytes(closure(requirements(ROOT / backends.requirements_file(name))) - base))
            for name in backends.PACKAGES if backends.is_installed(name)}


def run_backend(backend, args):
    """Run every lecture on ``backend`` with the limits of ``args``; return {lecture: (seconds, ok)}."""
    options = runner.RunOptions(output_dir=OUT / backend, fast=args.fast, progress=False, backend=backend,
                                timeout=args.timeout, cell_timeout=args.cell_timeout)
    print(f"==> {backend}", flush=True)
    results = runner.run([ROOT / "lectures"], options, summary_dir=OUT / backend)
    return {Path(r.notebook).stem: (round(r.seconds, 1), r.ok) for r in results}


def table(times, sizes, fast):
    """Return the side-by-side table as Markdown."""
    names = list(times)
    lectures = sorted({lecture for per in times.values() for lecture in per})
    mode = "fast mode (FAST = True), bands not checked" if fast else "in full, bands checked"
    lines = [f"Every lecture on every backend, {mode}, one at a time, {os.cpu_count()} cores", "",
             "| lecture | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for lecture in lectures:
        cells = []
        for name in names:
            seconds, ok = times[name].get(lecture, (None, False))
            cells.append("-" if seconds is None else f"{seconds:.0f} s" + ("" if ok else " (FAILED)"))
        lines.append(f"| {lecture} | " + " | ".join(cells) + " |")
    totals = [f"**{sum(s for s, _ in times[name].values()):.0f} s**" for name in names]
    lines.append("| all lectures | " + " | ".join(totals) + " |")
    lines.append("| install size (beyond requirements.txt) | " + " | ".join(f"{sizes.get(n, '?')} MB" for n in names) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", action="store_true", help="run the lectures in fast mode")
    parser.add_argument("--backend", action="append", choices=list(backends.PACKAGES),
                        help="only this backend (repeatable; default: all)")
    defaults = runner.RunOptions()
    parser.add_argument("--timeout", type=int, default=defaults.timeout, metavar="SECONDS",
                        help=f"for a whole notebook (default {defaults.timeout})")
    parser.add_argument("--cell-timeout", type=int, default=defaults.cell_timeout, metavar="SECONDS",
                        help=f"for one cell (default {defaults.cell_timeout})")
    args = parser.parse_args()
    names = args.backend or list(backends.PACKAGES)
    for name in names:
        backends.require(name)
    sizes = install_sizes()
    out = ROOT / "build" / ("bench-backends-fast" if args.fast else "bench-backends")
    times = {}
    for name in names:
        times[name] = run_backend(name, args)
        report = table(times, sizes, args.fast)
        out.with_suffix(".md").write_text(report + "\n")
        out.with_suffix(".json").write_text(json.dumps({"fast": args.fast, "times": times}, indent=1))
    print("\n" + report)


if __name__ == "__main__":
    main()
