"""A cache of executed notebooks for the development loop (host side).

An executed notebook is reused while nothing that can change its outputs has
changed. The key is a SHA-256 of:

- the notebook file and the FAST flag;
- every file of the kernel side of ``dlcourse/`` (what notebooks import;
  the host side, :data:`dlcourse.host.HOST_ONLY`, is not part of it);
- ``requirements.txt`` and the backend's ``requirements-<backend>.txt``
  (the pinned versions), the Keras backend, the Python version and the
  kernel's name;
- the datasets' ``MANIFEST.json`` (the data's hashes).

Only notebooks that ran without an error are stored. Bands are checked again
on every run, so changing a band needs no re-execution. A fresh clone has no
cache: CI executes everything.
"""

import hashlib
import json
import shutil
import sys
from pathlib import Path

import dlcourse
from dlcourse import jupyter
from dlcourse.datasets import files

from .. import HOST_ONLY, backends

PACKAGE = Path(dlcourse.__file__).resolve().parent
COURSE = PACKAGE.parent


def kernel_side_files():
    """Return the files of ``dlcourse/`` that notebooks can import (all but
    :data:`dlcourse.host.HOST_ONLY`), sorted."""
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in HOST_ONLY)


def key(notebook, fast=False, backend=backends.DEFAULT):
    """Return the cache key (hex) of executing ``notebook`` with ``fast`` on
    the Keras ``backend``."""
    digest = hashlib.sha256()

    def add(label, data):
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("notebook", Path(notebook).read_bytes())
    add("fast", str(bool(fast)).encode())
    for path in kernel_side_files():
        add(str(path.relative_to(COURSE)), path.read_bytes())
    for name in ("requirements.txt", backends.requirements_file(backend)):
        requirements = COURSE / name
        add(name, requirements.read_bytes() if requirements.exists() else b"")
    add("backend", backend.encode())
    add("python", sys.version.encode())
    add("kernel", jupyter.KERNEL_NAME.encode())
    data = files.data_dir()
    manifest = data / "MANIFEST.json" if data else None
    add("data", manifest.read_bytes() if manifest and manifest.exists() else b"")
    return digest.hexdigest()


def load(folder, notebook_key, output):
    """Copy the cached executed notebook to ``output`` and return what was
    stored with it (a dict), or None when the cache has no such entry."""
    entry = Path(folder) / notebook_key
    try:
        stored = json.loads((entry / "result.json").read_text())
    except (OSError, ValueError):
        return None
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(entry / "executed.ipynb", output)
    return stored


def store(folder, notebook_key, output, stored):
    """Keep the executed notebook ``output`` and the dict ``stored`` under
    ``notebook_key``. The entry appears whole or not at all."""
    entry = Path(folder) / notebook_key
    partial = entry.with_name(entry.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    shutil.copyfile(output, partial / "executed.ipynb")
    (partial / "result.json").write_text(json.dumps(stored, indent=1))
    shutil.rmtree(entry, ignore_errors=True)
    partial.rename(entry)
