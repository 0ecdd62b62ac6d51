"""Benchmark: every lecture on every Keras backend, side by side, in one run.

    make bench-backends [FAST=1]     (or: python tests/bench_backends.py [--fast] [--backend NAME ...])

Each backend runs the lectures one after the other, as `make course
KERAS_BACKEND=...` would with one job, and its bands are checked (not in
fast mode). The table (build/bench-backends.md and .json) gives each
lecture's time per backend, whether its bands were met, and how much disk
each backend's packages take in this environment (those that only it needs).
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
from dlcourse.host import backends, runner  # noqa: E402

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


def run_backend(backend, fast):
    """Run every lecture on ``backend``; return {lecture: (seconds, ok)}."""
    options = runner.RunOptions(output_dir=OUT / backend, fast=fast, progress=False, backend=backend)
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
    args = parser.parse_args()
    names = args.backend or list(backends.PACKAGES)
    for name in names:
        backends.require(name)
    times = {name: run_backend(name, args.fast) for name in names}
    report = table(times, install_sizes(), args.fast)
    print("\n" + report)
    OUT.mkdir(parents=True, exist_ok=True)
    (ROOT / "build" / "bench-backends.md").write_text(report + "\n")
    (ROOT / "build" / "bench-backends.json").write_text(json.dumps({"fast": args.fast, "times": times}, indent=1))


if __name__ == "__main__":
    main()
