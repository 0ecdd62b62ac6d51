"""Host side: decoys, the places an escape from a graded kernel's folder
would look for, watched from outside the sandbox.

A graded kernel sees only its own folder and read-only system folders. A
submission that looks beyond them (for the course's gradebook, the release,
another student's work) would look in the folder above its own, beside
its own, or in a neighbouring grading's folder under ``/tmp``. :func:`plant` puts files there with the names
a course has (``nbgrader_config.py``, ``gradebook.db``, ``release/``,
``submitted/<student>/``, another slot's ``submission/``), in a folder of the
slot's own that the sandbox binds in. No honest notebook opens them.

They are watched with Linux's inotify from the grading process, outside the
sandbox: the kernel's code cannot turn the watch off, whatever it does to its
own interpreter. Opening, reading, listing, changing, adding, moving or
removing anything in them is a touch; :meth:`Decoys.touched` returns the
paths touched, as the kernel named them. (Asking only whether a path exists
leaves no trace; acting on what is found does.)
"""

import ctypes
import ctypes.util
import functools
import os
import secrets
import struct
from pathlib import Path

from ..errors import UserError

# What a decoy file says to whoever opens it.
TEXT = "# Not part of any course: this file is a decoy, and opening it is reported to the instructor.\n"
OTHER_STUDENT = "another_student"
NEIGHBOUR = "dlcourse-grading-"   # the start of a slot folder's name; a neighbour's ends as tempfile's do

# inotify(7): every event a touch makes, and the layout of one event record.
IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x1, 0x2, 0x4, 0x8
IN_OPEN, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE = 0x20, 0x40, 0x80, 0x100
IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x200, 0x400, 0x800
TOUCHES = (IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_OPEN | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
           | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
EVENT = struct.Struct("iIII")   # wd, mask, cookie, len (then len bytes of name)


class WatchUnavailable(UserError):
    """This machine gives no more inotify instances or watches, so the decoys
    of a grading cannot be watched: a fault of the machine, not of a submission."""

    def __init__(self, errno, what, limit):
        super().__init__(
            f"The grading machine ran out of inotify {what} ({os.strerror(errno)}), so the decoys around a "
            "graded kernel could not be watched and grading stopped: no submission was marked for it. "
            f"Fix: raise the limit (`sysctl fs.inotify.{limit}=...`, as root; see `sysctl fs.inotify`), or "
            "stop other programs that watch many files on this machine, then grade again.")


def course_files(assignment):
    """Return {relative path: text} of a course folder's decoy: its
    configuration, gradebook, sources, release, and another student's
    submission and graded copy of ``assignment``."""
    other, notebook = OTHER_STUDENT, f"{assignment}.ipynb"
    return {"nbgrader_config.py": TEXT, "gradebook.db": TEXT,
            f"release/{assignment}/{notebook}": TEXT, f"source/{assignment}/{notebook}": TEXT,
            f"submitted/{other}/{assignment}/{notebook}": TEXT, f"autograded/{other}/{assignment}/{notebook}": TEXT}


def places(work, kernel_folder):
    """Return the folders, as the kernel names them, where decoys go for a
    kernel whose own folder is ``kernel_folder`` in the slot folder ``work``:
    the throwaway course's place beside it, the folder above it (as if it
    were a course's), and a neighbouring slot."""
    neighbour = NEIGHBOUR + secrets.token_hex(4)
    return {"course": Path(work) / "course", "parent": Path(work),
            "neighbour": Path(work).parent / neighbour / Path(kernel_folder).name}


class Decoys:
    """Decoy folders on this machine, bound into one sandbox, and the inotify
    watch on every file and folder in them."""

    def __init__(self, binds):
        self.binds = binds          # [(folder on this machine, where the kernel sees it)]
        self.fd, self.names = None, {}

    def watch(self):
        """Start watching every decoy; return self. Without inotify (not
        Linux), nothing is watched and nothing is ever touched.

        Raises:
            WatchUnavailable: this machine has inotify but gives no more
                instances or watches (no decoy is left unwatched).
        """
        libc = _libc()
        if libc is None or not self.binds:
            return self
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise WatchUnavailable(ctypes.get_errno(), "instances", "max_user_instances")
        self.fd = fd
        for host, seen in self.binds:
            for path in [Path(host), *sorted(Path(host).rglob("*"))]:
                wd = libc.inotify_add_watch(self.fd, os.fsencode(path), TOUCHES)
                if wd < 0:
                    errno = ctypes.get_errno()
                    self.close()
                    raise WatchUnavailable(errno, "watches", "max_user_watches")
                self.names[wd] = Path(seen) / path.relative_to(host)
        return self

    def touched(self):
        """Return the paths touched since the last call, as the kernel named
        them, in order, without repeats."""
        if self.fd is None:
            return []
        paths = {}
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return list(paths)
            paths.update(dict.fromkeys(_paths(data, self.names)))

    def close(self):
        """Stop watching; return None (the folders go with the slot's)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _paths(data, names):
    """The paths the inotify records in ``data`` name (a folder's entry by its name)."""
    paths, offset = [], 0
    while offset + EVENT.size <= len(data):
        wd, _mask, _cookie, length = EVENT.unpack_from(data, offset)
        name = data[offset + EVENT.size:offset + EVENT.size + length].rstrip(b"\0")
        offset += EVENT.size + length
        if wd in names:
            paths.append(str(names[wd] / name.decode(errors="backslashreplace")) if name else str(names[wd]))
    return paths


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch  # noqa: B018 (present on Linux only)
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def plant(work, kernel_folder, assignment):
    """Make the decoy folders of the slot folder ``work`` (under
    ``work/decoys``) for a kernel whose folder is ``kernel_folder``; return
    a :class:`Decoys` (not yet watched) whose ``binds`` the sandbox mounts."""
    binds = []
    for name, seen in places(work, kernel_folder).items():
        host = Path(work) / "decoys" / name
        files = {f"{assignment}.ipynb": TEXT} if name == "neighbour" else course_files(assignment)
        for relative, text in files.items():
            (host / relative).parent.mkdir(parents=True, exist_ok=True)
            (host / relative).write_text(text)
        if name == "parent":   # the slot folder itself holds real folders: each decoy is bound beside them
            binds += [(host / entry, seen / entry) for entry in sorted({Path(r).parts[0] for r in files})]
        else:
            binds.append((host, seen))
    return Decoys(binds)
