"""Host side: the Keras backends the course runs on, and the one chosen.

Keras reads its backend from the environment variable ``KERAS_BACKEND`` when
it is first imported; the course passes that variable to every kernel it
starts (the runner's, the grader's sandboxed one, JupyterLab's through make).
Each backend's packages are pinned in ``requirements-<backend>.txt``.
"""

import importlib.util
import os

from .errors import UserError

VARIABLE = "KERAS_BACKEND"
# Keras's name of each backend -> the package it imports.
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
DEFAULT = "tensorflow"  # Keras's own default when the variable is unset


def thread_variables(threads):
    """Return the environment variables that keep a kernel's numerical work
    to ``threads`` threads: TensorFlow's two thread pools, and OpenMP's, which
    PyTorch and NumPy's linear algebra use. Kernels sharing the cores get a
    share each; a thread per core in every one of them only makes them wait
    for each other."""
    return {name: str(threads) for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")}


def share_of_cores(sharing):
    """Return the threads each of ``sharing`` kernels gets on this machine's cores (at least 1)."""
    return max(1, (os.cpu_count() or 1) // sharing)


def requirements_file(name):
    """Return the file name that pins the packages of backend ``name``
    (beside ``requirements.txt``; venv.mk finds the backends by this name)."""
    return f"requirements-{name}.txt"


class BackendError(UserError):
    """A backend that the course does not know, or that is not installed."""


def chosen(environ=None):
    """Return the backend that ``KERAS_BACKEND`` names in ``environ`` (this
    process's environment by default), or :data:`DEFAULT` when it is unset.

    Raises:
        BackendError: it names a backend the course does not run on.
    """
    name = (os.environ if environ is None else environ).get(VARIABLE) or DEFAULT
    return check(name)


def check(name):
    """Return ``name`` if it is one of :data:`PACKAGES`.

    Raises:
        BackendError: it is not; the message lists the backends.
    """
    if name not in PACKAGES:
        raise BackendError(f"{name!r} is not a Keras backend of the course. Fix: choose one of "
                           f"{', '.join(PACKAGES)} (KERAS_BACKEND=..., or --backend).")
    return name


def is_installed(name):
    """Return True when the package of backend ``name`` is importable here."""
    return importlib.util.find_spec(PACKAGES[check(name)]) is not None


def require(name):
    """Return ``name`` if its package is installed in this Python.

    Raises:
        BackendError: unknown, or not installed; the message says how to install it.
    """
    if not is_installed(name):
        raise BackendError(f"The Keras backend {name!r} is not installed in this Python ({PACKAGES[name]} is "
                           f"missing). Fix: `make venv KERAS_BACKEND={name}` (it installs {requirements_file(name)}).")
    return name
