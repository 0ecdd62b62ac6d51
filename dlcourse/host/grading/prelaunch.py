"""Host side: nbgrader and its sandboxed kernel, started before their submission arrives.

Much of grading a small submission is start-up that is the same for every
student: nbgrader's Python and imports, the sandbox and the kernel, and Keras
with its backend in the kernel. A grading worker therefore starts the next
submission's grading process while it grades the current one: a fresh process
forked from one that imported nbgrader already (:mod:`dlcourse.host.grading.launcher`)
runs :func:`main` with the arguments SUBMISSION_FOLDER SOCKET WORK_FOLDER
INCOMING [SPACE CAPPED...]. In a mount namespace of its own, it mounts one
tmpfs of a set size on SPACE and binds parts of it over the CAPPED folders
(:mod:`dlcourse.host.grading.capped`), then starts the sandboxed kernel (the kernelspec on
JUPYTER_PATH, whose launcher imports Keras before anything else runs, see
:mod:`dlcourse.host.grading.watch`) in SUBMISSION_FOLDER, talking through the Unix
sockets SOCKET-<n>, and waits for one line on standard input: nbgrader's
arguments, as a JSON list. It then copies the student's files from INCOMING
into SUBMISSION_FOLDER, and runs nbgrader,
whose notebook is executed by that kernel: the kernelspec names
:class:`PrelaunchedProvisioner`, which hands nbgrader's kernel manager the
kernel already running instead of starting another. At end of input instead
(the worker has ended, or closed the slot), it stops the kernel, removes
WORK_FOLDER (the slot's, which holds the others) and leaves. When nbgrader has
run, it writes whether the kernel filled SPACE at any time while nbgrader ran
to WORK_FOLDER/FILLED (JSON), which no kernel can reach.

Each process and kernel serves one submission only, in a sandbox made for it
that no other submission touched; the student's files arrive in its folder
after the kernel started.
"""

import json
import shutil
import sys
from pathlib import Path

from jupyter_client.provisioning import LocalProvisioner

PROVISIONER = "dlcourse-prelaunched"   # its entry point (pyproject.toml) and the kernelspec's metadata
# The graded kernel's kernelspec (:func:`sandbox.write_kernelspec` writes it), not the course's own kernel.
SANDBOXED_KERNEL_NAME = "dlcourse-sandbox"
FILLED = "filled.json"   # in the slot's folder: whether the kernel filled its capped space

# The kernel this process started ahead, until nbgrader's kernel manager takes it.
_waiting = []


class PrelaunchedProvisioner(LocalProvisioner):
    """Gives the first kernel manager that launches a kernel the kernel this
    process started ahead (:func:`main`); any later one starts its own."""

    async def launch_kernel(self, cmd, **kwargs):
        """Return the connection info of the kernel started ahead, now this
        provisioner's process; without one, launch ``cmd`` as usual."""
        if not _waiting:
            return await super().launch_kernel(cmd, **kwargs)
        ahead = _waiting.pop()
        self.process, self.pid, self.pgid, self.cwd = ahead.process, ahead.pid, ahead.pgid, ahead.cwd
        self.connection_info = ahead.connection_info
        return self.connection_info


def start_kernel_ahead(folder, socket):
    """Start the sandboxed kernel in ``folder``, reached through the Unix
    sockets ``socket``-<n>; return its kernel manager."""
    from jupyter_client import KernelManager


    manager = KernelManager(kernel_name=SANDBOXED_KERNEL_NAME, transport="ipc", ip=socket)
    manager.start_kernel(cwd=folder)
    _waiting.append(manager.provisioner)
    return manager


def leave(code):
    """Flush the logs and end this process at once with ``code`` (None: 0).

    nbgrader has written its notebooks and closed the gradebook by then; the
    interpreter's own teardown only adds a third of a second per submission.
    """
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def main(argv):
    """Cap the kernel's folders, start the kernel ahead (``argv``: its folder
    and socket, the slot's folder, the incoming folder, then, to cap them,
    the folder for the capped space and the folders the kernel may write),
    wait for nbgrader's arguments on standard input, copy the student's files
    in, run nbgrader; return its exit code (0 at end of input; CANNOT_CAP when
    this machine refused the capped folders, a fault of the machine)."""
    from nbgrader.apps.nbgraderapp import main as nbgrader_main

    from . import capped

    folder, socket, work, incoming, *to_cap = argv
    space, folders = (to_cap[0], to_cap[1:]) if to_cap else (None, [])
    if space:
        try:
            capped.enter(space, folders)
        except capped.CappingUnavailable as error:
            print(f"This machine refused the grading's capped folders: {error}")
            return capped.CANNOT_CAP
    manager = start_kernel_ahead(folder, socket)
    line = sys.stdin.readline()
    if not line:
        manager.shutdown_kernel(now=True)
        if space:
            capped.leave(space, folders)
        shutil.rmtree(work, ignore_errors=True)
        return 0
    try:
        capped.copy_in(incoming, folder)
    except OSError as error:
        print(f"The submission's files (with the assignment's own) do not fit into the kernel's folder (at most "
              f"{capped.SCRATCH_MB} MB in {capped.MAX_FILES:,} files): {error}. Fix: submit the notebook without "
              "large data files.")
        return 1
    sys.argv = ["nbgrader", *json.loads(line)]
    was_full = capped.watch_full(space) if space else None
    try:
        return nbgrader_main()
    finally:
        if space:
            Path(work, FILLED).write_text(json.dumps(was_full()))
