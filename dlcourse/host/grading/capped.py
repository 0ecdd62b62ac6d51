"""Host side: every folder a graded kernel may write shares one tmpfs of a set size.

A grading's nbgrader process (:mod:`dlcourse.host.grading.prelaunch`) enters a mount
namespace of its own (with a user namespace of its own when it is not root)
before it starts the sandboxed kernel. There it mounts one tmpfs of at most
:data:`SCRATCH_MB` MB in :data:`MAX_FILES` files, and binds a part of it over
each folder the kernel may write: the kernel's own folder, its home, its
sockets' folder, and the folders the sandbox shows as ``/tmp`` and
``/dev/shm``. Nothing the kernel writes reaches this machine's disks, and what
it keeps in files in memory (which no process's resident memory shows) is at
most :data:`SCRATCH_MB` MB a submission.

The grading process never sees these folders. The student's files reach the
kernel's folder through the slot's incoming folder: :func:`copy_in` copies
them when the submission arrives. While nbgrader runs, :func:`watch_full` looks
whether the space is full, so that the hit is reported as the submission's
own limit (what its cells wrote past it failed with "No space left on device").
"""

import ctypes
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SCRATCH_MB = 256       # what every folder a graded kernel may write holds together
MAX_FILES = 20_000     # files and folders in them (a tmpfs's inodes are memory that no process owns)

# The exit code of a grading's nbgrader process that could not cap the folders: the machine's fault.
CANNOT_CAP = 75

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x20000, 0x8000000, 0x10000000     # sched.h
# System V shared memory and message queues hold memory that no process's
# resident memory shows: none may be made in a grading's IPC namespace.
NO_SYSTEM_V = {"/proc/sys/kernel/shmmni": "0", "/proc/sys/kernel/msgmni": "0"}
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000   # sys/mount.h
MNT_DETACH = 0x2


class CappingUnavailable(OSError):
    """This machine does not let the grading process make capped folders."""


@functools.cache
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _call(function, *args, doing):
    """Call a libc ``function``; return None.

    Raises:
        CappingUnavailable: it failed; the message says what was being done.
    """
    if function(*args) != 0:
        errno = ctypes.get_errno()
        raise CappingUnavailable(errno, f"cannot {doing}: {os.strerror(errno)}")


def enter(space, folders):
    """Move this process into a mount namespace of its own, an IPC namespace
    that allows no System V shared memory or message queue (:data:`NO_SYSTEM_V`),
    and a user namespace mapped to itself when it is not root; mount the capped tmpfs
    on the empty folder ``space`` and bind a part of it over each of
    ``folders`` (existing folders; their subfolders are made again in it,
    empty); return None. Nothing is mounted outside this process and its
    children. Call it while this process has one thread.

    Raises:
        CappingUnavailable: the namespace or a mount is refused.
    """
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    if uid:
        # The IPC settings belong to the root of the IPC namespace's user namespace: be root in one,
        # then, in a user namespace inside it, oneself again for everything after.
        _enter_user_namespace(libc, CLONE_NEWIPC, as_ids=(0, 0), outside=(uid, gid))
        _forbid_system_v()
        _enter_user_namespace(libc, CLONE_NEWNS, as_ids=(uid, gid), outside=(0, 0))
    else:
        _call(libc.unshare, CLONE_NEWNS | CLONE_NEWIPC, doing="make a mount and an IPC namespace")
        _forbid_system_v()
    # Nothing mounted here may reach the machine's own mount namespace.
    _call(libc.mount, b"none", b"/", None, MS_REC | MS_PRIVATE, None, doing="make the mounts private")
    options = f"size={SCRATCH_MB}m,nr_inodes={MAX_FILES},mode=0700,uid={uid},gid={gid}".encode()
    _call(libc.mount, b"tmpfs", os.fsencode(space), b"tmpfs", MS_NOSUID | MS_NODEV, options,
          doing=f"mount a tmpfs on {space}")
    for number, folder in enumerate(map(Path, folders)):
        part = Path(space) / str(number)
        for relative in [Path("."), *sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_dir())]:
            (part / relative).mkdir(parents=True, exist_ok=True)
        _call(libc.mount, os.fsencode(part), os.fsencode(folder), None, MS_BIND, None,
              doing=f"bind the capped space over {folder}")


def _enter_user_namespace(libc, namespaces, as_ids, outside):
    """Enter a new user namespace, and the ``namespaces`` (CLONE_* flags) it
    then owns, as the user and group ``as_ids`` that are ``outside`` in the
    namespace left; return None.

    Raises:
        CappingUnavailable: the kernel refused.
    """
    _call(libc.unshare, CLONE_NEWUSER | namespaces, doing="make a user namespace")
    (uid, gid), (outer_uid, outer_gid) = as_ids, outside
    for name, text in [("setgroups", "deny"), ("uid_map", f"{uid} {outer_uid} 1"), ("gid_map", f"{gid} {outer_gid} 1")]:
        try:
            Path(f"/proc/self/{name}").write_text(text)
        except OSError as refused:
            raise CappingUnavailable(refused.errno, f"cannot write /proc/self/{name}: {refused.strerror}") \
                from refused


def _forbid_system_v():
    """Allow no System V shared memory or message queue in this IPC namespace; return None.

    Raises:
        CappingUnavailable: the settings cannot be written.
    """
    for setting, value in NO_SYSTEM_V.items():
        try:
            Path(setting).write_text(value)
        except OSError as refused:
            raise CappingUnavailable(refused.errno, f"cannot set {setting} in this IPC namespace: "
                                                    f"{refused.strerror}") from refused


def leave(space, folders):
    """Unmount what :func:`enter` mounted (so that the folders can be
    removed from this namespace); return None."""
    for path in [*folders, space]:
        _libc().umount2(os.fsencode(path), MNT_DETACH)


def copy_in(incoming, folder):
    """Copy every file under ``incoming`` into ``folder``; return None.

    Raises:
        OSError: they do not fit (:data:`SCRATCH_MB`, :data:`MAX_FILES`).
    """
    shutil.copytree(incoming, folder, symlinks=True, dirs_exist_ok=True)


# What "full" leaves: when the kernel stops, the grader removes its sockets and connection file from the space.
SLACK_BYTES, SLACK_FILES = 2**20, 100


def full(space):
    """Return True when the capped ``space`` has less than SLACK_BYTES or
    SLACK_FILES left."""
    try:
        status = os.statvfs(space)
    except OSError:
        return False
    return status.f_bavail * status.f_frsize < SLACK_BYTES or status.f_favail < SLACK_FILES


def watch_full(space, poll=0.25):
    """Start a thread that looks, ``poll`` seconds apart, whether the capped
    ``space`` is full (:func:`full`); return a function that returns True when
    it was at any look or is now (a kernel that filled it and then emptied it
    is still seen)."""
    seen = threading.Event()

    def look():
        while not seen.wait(poll):
            if full(space):
                seen.set()

    threading.Thread(target=look, name="capped-space-watch", daemon=True).start()

    def was_full():
        if full(space):
            seen.set()
        return seen.is_set()
    return was_full


# Run by check(): as a grading's nbgrader process does, cap a folder and run a sandboxed command in it.
_CHECK = """import subprocess, sys
from dlcourse.host.grading import capped
space, folder = sys.argv[1:]
capped.enter(space, [folder])
from dlcourse.host.grading import sandbox
argv = sandbox.bwrap_argv([(folder, folder)], {}, sandbox.require_bwrap(), scratch={"/tmp": folder, "/dev/shm": folder})
done = subprocess.run([*argv, "--", "/bin/sh", "-c", "echo capped > " + folder + "/check"], capture_output=True,
                      text=True)
sys.exit(done.returncode and "the sandbox said: " + (done.stderr.strip() or "nothing"))
"""


def check(timeout=60):
    """Check that this machine lets a grading process make capped folders
    and run a sandboxed kernel's command in them; return None if so, else
    what went wrong (the process's own words)."""
    work = Path(tempfile.mkdtemp(prefix="dlcourse-capped-"))
    try:
        for name in ("space", "folder"):
            (work / name).mkdir()
        done = subprocess.run([sys.executable, "-c", _CHECK, str(work / "space"), str(work / "folder")],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"it did not finish within {timeout} s"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["no words"])[-1]
