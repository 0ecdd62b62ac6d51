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

Paths inside the sandbox are the host's: the kernel is started by the same
command as on the host, and every symbolic link on the way to what it needs
(a ``.venv`` that is a link, a course folder reached through one) is made
again inside, pointing at the same place. :func:`check_kernel_starts` proves,
before a class is graded, that a sandboxed kernel starts and imports the
course package.
"""

import functools
import json
import os
import shutil
import sys
import tempfile
from importlib.metadata import entry_points
from pathlib import Path

import dlcourse
from dlcourse import jupyter
from dlcourse.datasets import files

from . import capped
from .. import backends
from ..errors import UserError
from .prelaunch import PROVISIONER, SANDBOXED_KERNEL_NAME

# What of /proc writes the machine's own settings (bwrap's own list of what it covers).
MACHINE_SETTINGS = ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus")
INSTALL_HINT = ("Install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; "
                "`make sandbox-tools` does it when run as root)")


class SandboxUnavailable(UserError):
    """The sandbox cannot run a kernel on this machine (no tool, or a kernel
    does not start in it), and unsafe grading was not asked for."""


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


def _needed_paths():
    """The paths the kernel reaches as the host names them: this Python, its
    environment, the course package and the data (links not resolved)."""
    paths = [sys.executable, sys.prefix, sys.base_prefix, str(Path(dlcourse.__file__).parent)]
    data = files.data_dir()
    return paths + [str(data)] if data else paths


def _read_only_roots():
    """The folders the kernel needs to read: the system, this Python, the
    course package and the data (resolved, deduplicated, existing ones only)."""
    roots = []
    for path in ["/usr", "/etc", *_needed_paths()[1:]]:
        path = os.path.realpath(path)
        if os.path.isdir(path) and path not in roots:
            roots.append(path)
    return roots


def links_on_the_way(path, depth=0):
    """Return (target, link) for every symbolic link met while resolving
    ``path``, in the order met; a link's location has no link before it.

    Raises:
        SandboxUnavailable: the links go round in a loop.
    """
    if depth > 40:
        raise SandboxUnavailable(f"The symbolic links on the way to {path} go round in a loop. Fix: repair them.")
    links, current = [], "/"
    for part in Path(os.path.abspath(path)).parts[1:]:
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            target = os.readlink(candidate)
            links.append((target, candidate))
            links += links_on_the_way(os.path.join(current, target), depth + 1)
            current = os.path.realpath(candidate)
        else:
            current = candidate
    return links


def _links_to_make(roots):
    """The links the kernel needs made again inside the sandbox: those on the
    way to what it needs, except links inside a folder bound as it is."""
    made = []
    for path in _needed_paths():
        for target, link in links_on_the_way(path):
            inside_a_root = any(Path(link).is_relative_to(root) for root in roots)
            if not inside_a_root and (target, link) not in made:
                made.append((target, link))
    return made


def bwrap_argv(writable, env, bwrap="bwrap", decoys=(), read_only=(), scratch=None):
    """Return the ``bwrap`` command line (before the kernel command) that
    gives the kernel read-only system folders and the ``read_only`` ones,
    the ``writable`` folders (pairs of a folder on the host and where the
    kernel sees it), the ``decoys`` (pairs too, :mod:`dlcourse.host.grading.decoys`;
    one that would lie in a read-only folder is left out), and only the
    environment variables ``env``. Its ``/tmp`` and ``/dev/shm`` are the
    folders ``scratch`` names ({"/tmp": folder, "/dev/shm": folder}, capped
    by the caller, whose IPC namespace it then keeps: :func:`capped.enter`),
    or else a tmpfs of :data:`capped.SCRATCH_MB` each."""
    # Every namespace of its own (bwrap's --unshare-all), but the capped caller's IPC namespace.
    unshare = ["--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"] if scratch else \
        ["--unshare-all"]
    argv = [bwrap, "--clearenv", *unshare, "--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534",
            "--cap-drop", "ALL", "--die-with-parent", "--new-session",
            "--proc", "/proc", "--dev", "/dev"]
    # The machine's settings stay out of reach: bwrap covers these only when it could write them itself,
    # and a kernel that a grader running as root starts is root on the machine outside its namespaces.
    for setting in MACHINE_SETTINGS:
        argv += ["--ro-bind-try", setting, setting]
    # Files in memory are not in any process's resident memory: each place for them is capped.
    for seen in ("/dev/shm", "/tmp"):
        if scratch:
            argv += ["--bind", str(scratch[seen]), seen]
        else:
            argv += ["--size", str(capped.SCRATCH_MB * 2**20), "--tmpfs", seen]
    for link in ("bin", "lib", "lib64", "sbin"):  # merged-/usr systems link these into /usr
        if os.path.islink(f"/{link}"):
            argv += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            argv += ["--ro-bind", f"/{link}", f"/{link}"]
    roots = _read_only_roots()
    for root in roots:
        argv += ["--ro-bind", root, root]
    for target, link in _links_to_make(roots):
        argv += ["--symlink", target, link]
    for source, target in writable:
        argv += ["--bind", str(source), str(target)]
    for source, target in decoys:
        if not any(Path(target).is_relative_to(root) for root in roots):
            argv += ["--bind", str(source), str(target)]
    for folder in read_only:
        argv += ["--ro-bind", str(folder), str(folder)]
    for name, value in env.items():
        argv += ["--setenv", name, value]
    return argv


def kernel_environment(home, backend, threads=None):
    """Return the only environment variables a graded kernel gets: none of
    the grader's own (tokens, paths) reach student code; those of the
    course's kernel (:mod:`dlcourse.jupyter`), the Keras ``backend``, and
    its share of the cores (``threads``; None: as many as it likes)."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home),
           "NBGRADER_EXECUTION": "autograde", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "MPLCONFIGDIR": str(Path(home) / ".matplotlib"), "KERAS_HOME": str(Path(home) / ".keras"),
           "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(Path(home) / "tmp"), **jupyter.KERNEL_ENVIRONMENT,
           backends.VARIABLE: backends.check(backend), **(backends.thread_variables(threads) if threads else {})}
    data = files.data_dir()
    if data:  # its path as the kernel sees it (the sandbox mounts it there)
        env[files.DATA_DIR_VARIABLE] = str(data.resolve())
    return env


# What any kernel may read, and change, besides the folders bound for it. Its
# temporary files go to its home (TMPDIR): the grader's own folders on this
# machine may lie under /tmp, so /tmp itself is not the kernel's.
SYSTEM_READABLE = ["/proc", "/sys", "/dev"]
SYSTEM_WRITABLE = ["/dev"]


def kernel_command(writable, warm=False, report=None):
    """Return the command that starts an ipykernel of this Python, as this
    process names it, watched (:mod:`dlcourse.host.grading.watch`): attempts outside
    the read-only roots and the ``writable`` folders (as the kernel sees
    them) are reported to the socket ``report`` (None: to no one); with
    ``warm``, Keras and its backend are started first. ``-P``: the notebook's folder is not searched for the launcher (a
    submitted file of that name would otherwise replace it)."""
    readable = os.pathsep.join(_read_only_roots() + SYSTEM_READABLE)
    changeable = os.pathsep.join([str(target) for _, target in writable] + SYSTEM_WRITABLE)
    return [sys.executable, "-P", "-m", "dlcourse.host.grading.watch", "--read", readable, "--write", changeable,
            *(["--report", str(report)] if report else []), *(["--warm", "keras"] if warm else []),
            "--", "-f", "{connection_file}"]


def write_kernelspec(jupyter_dir, writable, home, sandboxed=True, backend=backends.DEFAULT, warm=False, threads=None,
                     decoys=(), report=None, scratch=None):
    """Write the kernelspec ``dlcourse-sandbox`` under ``jupyter_dir/kernels``
    (put ``jupyter_dir`` on JUPYTER_PATH); return its folder. ``writable``
    ``decoys`` and ``scratch`` are as for :func:`bwrap_argv`, and ``report`` (the watch's
    socket, whose folder the kernel sees read-only) as for :func:`kernel_command`;
    the kernel runs on the Keras ``backend``
    with ``threads`` threads (:func:`kernel_environment`) and, with ``warm``,
    starts Keras before it answers. Its provisioner takes a kernel started
    ahead where there is one (:mod:`dlcourse.host.grading.prelaunch`).

    With ``sandboxed=False`` the kernel is this environment's plain ipykernel
    (the instructor's explicit unsafe choice).

    Raises:
        SandboxUnavailable: sandboxed, and bwrap is not installed; or the
            provisioner is not installed in this Python.
    """
    require_provisioner()
    kernel = kernel_command(writable, warm, report)
    env = kernel_environment(home, backend, threads)
    read_only = [Path(report).parent] if report else []
    if sandboxed:
        argv = bwrap_argv(writable, env, require_bwrap(), decoys, read_only, scratch) + ["--", *kernel]
    else:
        argv = kernel
    folder = Path(jupyter_dir) / "kernels" / SANDBOXED_KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    # The kernel runs in its own session and PID namespace, where the grader's
    # SIGINT cannot reach it: on a cell timeout, ask it to interrupt itself.
    spec = {"argv": argv, "display_name": "Python 3 (sandboxed grading)", "language": "python",
            "env": env, "interrupt_mode": "message",
            "metadata": {"debugger": False, "kernel_provisioner": {"provisioner_name": PROVISIONER}}}
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
    return folder


@functools.cache  # once per process: every submission's kernelspec asks, and a lookup reads every package's metadata
def require_provisioner(name=PROVISIONER):
    """Return None if this Python has the graded kernel's provisioner (an
    entry point of the course package, :mod:`dlcourse.host.grading.prelaunch`).

    Raises:
        SandboxUnavailable: it does not; jupyter_client would otherwise say only
            "No such kernel".
    """
    if not entry_points(group="jupyter_client.kernel_provisioners", name=name):
        raise SandboxUnavailable(
            f"Grading needs the course package installed in this Python ({sys.executable}): its kernel "
            f"provisioner {name!r} is missing, so no graded kernel can start. Fix: `make venv` in the course "
            "folder (or `pip install -e <course folder>` in the grading machine's environment).")


# The grader talks to a kernel through Unix sockets, <work folder>/RUNTIME/SOCKET-<n>,
# and a socket's path holds at most 107 bytes.
RUNTIME, SOCKET = "runtime", "kernel"
SOCKET_PATH_MAX = 107


def work_folder(prefix):
    """Make a new private folder for one kernel's files; return its Path.

    It is under $TMPDIR, or under /tmp when $TMPDIR is too deep for the
    kernel's sockets (a long TMPDIR, as on some clusters, would otherwise
    stop every kernel with ZMQ's "File name too long").
    """
    prefix = prefix[:40]
    random_part = 8  # what mkdtemp adds to the prefix
    deepest = len(tempfile.gettempdir()) + 1 + len(prefix) + random_part + len(f"/{RUNTIME}/{SOCKET}-99")
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if deepest > SOCKET_PATH_MAX else None))


PREFLIGHT_CELL = "import dlcourse"  # the course package, and nothing heavy


def check_kernel_starts(timeout=60):
    """Start one sandboxed kernel, run :data:`PREFLIGHT_CELL` in it, stop it;
    return None. Grading calls this before its first submission.

    Raises:
        SandboxUnavailable: the kernel did not start or could not import the
            course package; the message shows the sandbox's own words and the fix.
    """
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    tmp = work_folder("dlcourse-preflight-")
    try:
        work, runtime, home, jupyter_dir = (tmp / name for name in ("work", RUNTIME, "home", "jupyter"))
        for folder in (work, runtime, home / "tmp"):
            folder.mkdir(parents=True)
        write_kernelspec(jupyter_dir, [(work, work), (runtime, runtime), (home, home)], home)
        specs = KernelSpecManager(kernel_dirs=[str(jupyter_dir / "kernels")])
        manager = KernelManager(kernel_name=SANDBOXED_KERNEL_NAME, kernel_spec_manager=specs, transport="ipc",
                                ip=str(runtime / SOCKET), connection_file=str(runtime / "kernel.json"))
        with open(tmp / "kernel.log", "w+") as log:
            problem = _run_preflight_cell(manager, work, log, timeout)
            log.seek(0)
            said = log.read().strip()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if problem:
        raise SandboxUnavailable(_preflight_message(problem, said, timeout))


def _run_preflight_cell(manager, cwd, log, timeout):
    """Return None if the cell ran, else what went wrong, in a few words."""
    manager.start_kernel(cwd=str(cwd), stdout=log, stderr=log)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=timeout)
        reply = client.execute_interactive(PREFLIGHT_CELL, timeout=timeout, output_hook=lambda message: None)
        content = reply["content"]
        if content["status"] != "ok":
            return f"{content.get('ename')}: {content.get('evalue')}"
        return None
    except (RuntimeError, TimeoutError) as error:
        return str(error) or type(error).__name__
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _preflight_message(problem, said, timeout):
    if "No such file or directory" in said:
        fix = ("a path the kernel needs does not exist inside the sandbox (the line above names it). Check that "
               "it exists on this machine, and that `python -m dlcourse` runs with the Python that grades")
    elif any(word in said for word in ("Operation not permitted", "namespace", "uid map", "Permission denied")):
        fix = ("this machine does not let bubblewrap create the namespaces it needs. Allow unprivileged user "
               "namespaces (Debian: `sysctl kernel.unprivileged_userns_clone=1`; Ubuntu 24.04: `sysctl "
               "kernel.apparmor_restrict_unprivileged_userns=0`), or grade as root; in a container, allow "
               "unshare in its seccomp profile")
    elif "dlcourse" in problem:
        fix = "the kernel started but cannot import the course package: install it into this Python (`make venv`)"
    elif "Timeout" in problem or "imeout" in said:
        fix = f"the kernel did not answer within {timeout} s: check the machine's load and memory, then try again"
    else:
        fix = "see the sandbox's words above"
    return ("The grading sandbox cannot start a kernel on this machine, so grading stopped at once: "
            "no submission was graded or marked on it (this is no student's fault).\n"
            f"What happened: {problem}\nThe sandbox said: {said or '(nothing)'}\n"
            f"Fix: {fix}. `--unsafe-no-sandbox` grades without isolation, only for code you trust.")
