"""Host side: the sandbox a student's kernel runs in while it is graded.

The grader (nbgrader) runs outside the sandbox, as the instructor; only the
student's kernel runs inside bubblewrap (``bwrap``, Debian's ``bubblewrap``
package). The kernel sees a read-only view of the system and of this Python
environment, the course's helper package and the data, and one writable
folder: the copy of the student's own files. It has no network (its own empty
network namespace; the grader talks to it over Unix sockets), no view of
other processes, no capabilities, and runs as ``nobody``. When the grader
stops it, every process the student started dies with it (its own PID
namespace).
"""

import json
import os
import shutil
import sys
from pathlib import Path

import dlcourse
from dlcourse import jupyter
from dlcourse.datasets import files

KERNEL_NAME = "dlcourse-sandbox"
INSTALL_HINT = ("Install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; "
                "`make sandbox-tools` does it when run as root)")


class SandboxUnavailable(RuntimeError):
    """No sandbox tool on this machine, and unsafe grading was not asked for."""


def bwrap_path():
    """Return the path of ``bwrap``, or None when it is not installed."""
    return shutil.which("bwrap")


def require_bwrap():
    """Return the path of ``bwrap``.

    Raises:
        SandboxUnavailable: it is not installed; the message says how to fix it.
    """
    path = bwrap_path()
    if path is None:
        raise SandboxUnavailable(
            "Grading runs each student's code in a bubblewrap sandbox, and `bwrap` is not installed on "
            f"this machine. {INSTALL_HINT}, or pass --unsafe-no-sandbox to grade without isolation "
            "(only for code you trust).")
    return path


def _read_only_roots():
    """The folders the kernel needs to read: the system, this Python, the
    course package and the data (deduplicated, existing ones only)."""
    package = Path(dlcourse.__file__).resolve().parent
    candidates = ["/usr", "/etc", sys.base_prefix, sys.prefix, str(package)]
    data = files.data_dir()
    if data:
        candidates.append(str(data.resolve()))
    roots = []
    for path in candidates:
        path = os.path.realpath(path)
        if os.path.isdir(path) and path not in roots:
            roots.append(path)
    return roots


def bwrap_argv(writable, env, bwrap="bwrap"):
    """Return the ``bwrap`` command line (before the kernel command) that
    gives the kernel read-only system folders, the ``writable`` folders
    (pairs of a folder on the host and where the kernel sees it), and only
    the environment variables ``env``."""
    argv = [bwrap, "--clearenv", "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
            "--cap-drop", "ALL", "--die-with-parent", "--new-session",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for link in ("bin", "lib", "lib64", "sbin"):  # merged-/usr systems link these into /usr
        if os.path.islink(f"/{link}"):
            argv += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            argv += ["--ro-bind", f"/{link}", f"/{link}"]
    for root in _read_only_roots():
        argv += ["--ro-bind", root, root]
    for source, target in writable:
        argv += ["--bind", str(source), str(target)]
    for name, value in env.items():
        argv += ["--setenv", name, value]
    return argv


def kernel_environment(home):
    """Return the only environment variables a graded kernel gets: none of
    the grader's own (tokens, paths) reach student code, and those of the
    course's kernel (:mod:`dlcourse.jupyter`)."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home),
           "NBGRADER_EXECUTION": "autograde", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "MPLCONFIGDIR": str(Path(home) / ".matplotlib"), "KERAS_HOME": str(Path(home) / ".keras"),
           "PYTHONDONTWRITEBYTECODE": "1", **jupyter.KERNEL_ENVIRONMENT}
    data = files.data_dir()
    if data:  # its path as the kernel sees it (the sandbox mounts it there)
        env[files.DATA_DIR_VARIABLE] = str(data.resolve())
    return env


def write_kernelspec(jupyter_dir, writable, home, sandboxed=True):
    """Write the kernelspec ``dlcourse-sandbox`` under ``jupyter_dir/kernels``
    (put ``jupyter_dir`` on JUPYTER_PATH); return its folder. ``writable``
    is as for :func:`bwrap_argv`.

    With ``sandboxed=False`` the kernel is this environment's plain ipykernel
    (the instructor's explicit unsafe choice).

    Raises:
        SandboxUnavailable: sandboxed, and bwrap is not installed.
    """
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    env = kernel_environment(home)
    argv = bwrap_argv(writable, env, require_bwrap()) + ["--", *kernel] if sandboxed else kernel
    folder = Path(jupyter_dir) / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    # The kernel runs in its own session and PID namespace, where the grader's
    # SIGINT cannot reach it: on a cell timeout, ask it to interrupt itself.
    spec = {"argv": argv, "display_name": "Python 3 (sandboxed grading)", "language": "python",
            "env": env, "interrupt_mode": "message", "metadata": {"debugger": False}}
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
    return folder
