"""Host side: every folder a graded kernel may write is a tmpfs of a set size.

A grading's nbgrader process (:mod:`dlcourse.host.prelaunch`) enters a mount
namespace of its own (with a user namespace of its own when it is not root)
before it starts the sandboxed kernel, and mounts a tmpfs over each folder the
kernel may write: the kernel's own folder, its home, its sockets' folder, and
the folders the sandbox shows as ``/tmp`` and ``/dev/shm``. Each holds at most
:data:`SCRATCH_MB` MB in :data:`MAX_FILES` files, so nothing the kernel writes
reaches this machine's disks, and what it keeps in memory that way is bounded.

The grading process never sees these folders. The student's files reach the
kernel's folder through the slot's incoming folder: :func:`copy_in` copies
them when the submission arrives. When grading ends, :func:`full` tells which
folders the kernel filled, so that the hit is reported as the submission's own
limit (its cells that wrote there failed with "No space left on device").
"""

import ctypes
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SCRATCH_MB = 256       # the size of each folder a graded kernel may write
MAX_FILES = 20_000     # files and folders in each (a tmpfs's inodes are memory that no process owns)

CLONE_NEWNS, CLONE_NEWUSER = 0x20000, 0x10000000          # sched.h
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000   # sys/mount.h


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


def enter(folders):
    """Move this process into a mount namespace of its own (and a user
    namespace, mapped to itself, when it is not root), and mount a capped
    tmpfs over each of ``folders`` (existing folders; their subfolders are
    made again in it, empty); return None. Nothing is mounted outside this
    process and its children.

    Raises:
        CappingUnavailable: the namespace or a mount is refused.
    """
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    _call(libc.unshare, CLONE_NEWNS | (CLONE_NEWUSER if uid else 0), doing="make a mount namespace")
    if uid:
        for name, text in [("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")]:
            Path(f"/proc/self/{name}").write_text(text)
    # Nothing mounted here may reach the machine's own mount namespace.
    _call(libc.mount, b"none", b"/", None, MS_REC | MS_PRIVATE, None, doing="make the mounts private")
    options = f"size={SCRATCH_MB}m,nr_inodes={MAX_FILES},mode=0700,uid={uid},gid={gid}".encode()
    for folder in map(Path, folders):
        inside = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_dir())
        _call(libc.mount, b"tmpfs", os.fsencode(folder), b"tmpfs", MS_NOSUID | MS_NODEV, options,
              doing=f"mount a tmpfs on {folder}")
        for relative in inside:
            (folder / relative).mkdir(parents=True, exist_ok=True)


def copy_in(incoming, folder):
    """Copy every file under ``incoming`` into ``folder`` (as links are not
    followed, a link is copied as a link); return None.

    Raises:
        OSError: they do not fit (:data:`SCRATCH_MB`, :data:`MAX_FILES`).
    """
    shutil.copytree(incoming, folder, symlinks=True, dirs_exist_ok=True)


def full(folders):
    """Return those of ``folders`` that have no byte or no file left."""
    filled = []
    for folder in folders:
        try:
            status = os.statvfs(folder)
        except OSError:
            continue
        if status.f_bavail == 0 or status.f_favail == 0:
            filled.append(str(folder))
    return filled


# Run by check(): make a capped folder, as a grading's nbgrader process does.
_CHECK = "import sys; from dlcourse.host import capped; capped.enter(sys.argv[1:])"


def check():
    """Check that this machine lets a grading process make capped folders;
    return None if so, else what went wrong (the process's own words)."""
    folder = tempfile.mkdtemp(prefix="dlcourse-capped-")
    try:
        done = subprocess.run([sys.executable, "-c", _CHECK, folder], capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["no words"])[-1]
