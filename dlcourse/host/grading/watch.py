"""Host side, run inside the sandbox: a graded kernel that reports what it
tries on files.

``python -P -m dlcourse.host.grading.watch --read DIRS --write DIRS --report SOCKET [--warm keras] -- KERNEL_ARGS``
installs a Python audit hook, then starts ``ipykernel_launcher KERNEL_ARGS``
(with ``--warm keras``, it first imports Keras and starts its backend, the
start-up every graded notebook has, so that a kernel started ahead of its
submission has done it before the submission arrives; the hook comes after
that start-up and before any code of the submission).
The hook sees each attempt of the kernel's code to read, list, change or
remove a path, before the sandbox answers it. An attempt outside the folders
it may read (``--read``) or change (``--write``, each a list joined with
``os.pathsep``) becomes one message, :data:`MARK` and a JSON object, sent to
the grader's Unix socket ``--report`` (a folder the sandbox shows read-only,
so no code of the kernel can remove or replace it). Each message goes on a
socket of its own, opened and closed for it: the kernel holds no descriptor
of the grader's that its code could close or write to. Opening a file
through ``/proc/self/fd`` or ``/dev/fd`` is refused (and reported).

On the host, :class:`Reports` receives the messages while the kernel runs
(a flood waits for the grader, it never pushes a report out), and
:func:`read_attempts` reads the attempts from them. A message that is not a
report is counted as forged.
"""

import json
import os
import re
import socket
import sys
import threading

MARK = "[dlcourse-watch] "
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Audit events that change a path (every path argument is judged), and those that read or list one.
CHANGES = {"os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.chmod", "os.chown", "os.link", "os.symlink",
           "os.truncate", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copytree"}
READS = {"os.listdir", "os.scandir", "glob.glob", "sqlite3.connect", "os.chdir"}
# Ways back to an open file (nbgrader's log is the kernel's standard error) that the mount namespace does not show.
FILE_DESCRIPTOR_PATHS = re.compile(r"^/(proc/(self|thread-self|\d+)(/task/\d+)?/fd|dev/(fd|stdin|stdout|stderr))(/|$)")


class Watch:
    """The audit hook: report attempts outside the allowed folders."""

    def __init__(self, readable, writable, report):
        self.readable = [os.path.realpath(p) for p in readable + writable]
        self.writable = [os.path.realpath(p) for p in writable]
        self.address = report   # the grader's socket, or None: nothing is sent
        self.seen = set()

    def __call__(self, event, args):
        if event != "open" and event not in CHANGES and event not in READS:
            return
        try:
            refused = self.judge(event, args)
        except Exception:  # the hook must never break the kernel
            return
        if refused:
            raise PermissionError(refused)

    def judge(self, event, args):
        """Report an attempt outside the allowed folders; return a reason to
        refuse it (an open file reached through /proc, or an attempt it could
        not report), else None."""
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int):  # ipykernel opens its inherited streams by descriptor: no path
                return None
            action = "write" if (flags or 0) & WRITE_FLAGS or (mode and set(mode) & set("wax+")) else "read"
            return self.check(action, path)
        action = "change" if event in CHANGES else "read"
        paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
        if event == "os.symlink":  # the link itself, and what it points to, judged as a change
            paths = [args[1], os.path.join(os.path.dirname(os.fsdecode(args[1])), os.fsdecode(args[0]))]
        return next(filter(None, (self.check(action, p) for p in paths)), None)

    def check(self, action, path):
        named = os.path.abspath(os.fsdecode(path))
        if FILE_DESCRIPTOR_PATHS.match(named):
            self.report(action, named, refused=True)
            return f"{named}: the grading sandbox refuses this"
        resolved = os.path.realpath(named)
        allowed = self.writable if action in ("write", "change") else self.readable
        if not any(resolved == root or resolved.startswith(root.rstrip("/") + "/") for root in allowed):
            if not self.report(action, named):
                return f"{named}: the grading sandbox refuses this while its watch cannot report"
        return None

    def report(self, action, path, refused=False):
        """Send one report to the grader; return False when it could not be
        sent (then the attempt is refused: no descriptor left, say)."""
        if (action, path) in self.seen or self.address is None:
            return True
        message = MARK + json.dumps({"action": action, "path": path[:MAX_PATH], "refused": refused})
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as channel:
                channel.settimeout(SEND_SECONDS)   # the grader drains its socket as messages come
                channel.sendto(message.encode(errors="backslashreplace"), self.address)
        except OSError:
            return False
        self.seen.add((action, path))
        return True


MAX_ATTEMPTS = 20        # attempts reported one by one for a submission; the rest are counted
MAX_PATH = 1000          # characters of a path in a report
MAX_MESSAGE_BYTES = 8192   # the longest report (a path of MAX_PATH escaped characters) is about 6,000
MAX_SEEN = 10_000        # different attempts told apart for one kernel; past that, every one counts as more
SEND_SECONDS = 10        # a report waits this long for room in the grader's socket
RECEIVE_SECONDS = 0.2    # how often the grader's receiver looks whether it should stop
ACTIONS = ("read", "write", "change")


class Reading:
    """The attempts read from a watched kernel's messages so far: at most
    MAX_ATTEMPTS kept, the rest and the forged messages counted."""

    def __init__(self):
        self.attempts, self.seen, self.more, self.forged = [], set(), 0, 0

    def add(self, message):
        """Read one message (bytes or str); return None."""
        attempt = _attempt(message)
        if attempt is None:
            self.forged += 1
            return
        key = (attempt["action"], attempt["path"], attempt["refused"])
        if key in self.seen:
            return
        if len(self.seen) < MAX_SEEN:
            self.seen.add(key)
        if len(self.attempts) < MAX_ATTEMPTS:
            self.attempts.append(attempt)
        else:
            self.more += 1


def _attempt(message):
    """The attempt a message reports, or None when the watch did not write it."""
    if isinstance(message, bytes):
        message = message.decode(errors="backslashreplace")
    if not message.startswith(MARK) or len(message) > MAX_MESSAGE_BYTES:
        return None
    try:
        attempt = json.loads(message[len(MARK):])
    except (ValueError, RecursionError):
        return None
    if not (isinstance(attempt, dict) and set(attempt) == {"action", "path", "refused"}
            and attempt["action"] in ACTIONS and type(attempt["path"]) is str and type(attempt["refused"]) is bool):
        return None
    return attempt


def read_attempts(messages):
    """Return the attempts in a watched kernel's ``messages`` (strings or
    bytes): a list of {"action", "path", "refused"} dicts, in order, without
    repeats, at most MAX_ATTEMPTS; how many more there were; and how many
    messages were not the watch's (forged)."""
    reading = Reading()
    for message in messages:
        reading.add(message)
    return reading.attempts, reading.more, reading.forged


class Reports:
    """Host side: the Unix socket ``folder/report`` a watched kernel reports
    to (give ``folder`` to the sandbox read-only), read as they come: only
    the attempts and counts are kept, never the messages."""

    def __init__(self, folder):
        folder.mkdir()
        self.path = folder / "report"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(self.path))
        self.socket.settimeout(RECEIVE_SECONDS)
        self.reading, self.receiving = Reading(), True
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self):
        while self.receiving:
            try:   # a longer message is cut here, and counted as forged
                self.reading.add(self.socket.recv(MAX_MESSAGE_BYTES + 1))
            except TimeoutError:
                continue
            except OSError:   # closed
                return

    def collect(self):
        """Stop receiving (once the kernel has ended); return (attempts,
        how many more, how many forged), as :func:`read_attempts`."""
        if self.receiving:
            self.receiving = False
            self.thread.join()
            self.socket.setblocking(False)
            while True:
                try:
                    self.reading.add(self.socket.recv(MAX_MESSAGE_BYTES + 1))
                except OSError:   # nothing left
                    break
            self.socket.close()
        return self.reading.attempts, self.reading.more, self.reading.forged


def warm_up_keras():
    """Import Keras and run one operation on its backend; return None."""
    import keras

    keras.ops.zeros(1)


def main(argv):
    """Install the watch and run ipykernel with the arguments after ``--``."""
    split = argv.index("--")
    options = dict(zip(argv[:split:2], argv[1:split:2]))
    readable = [p for p in options.get("--read", "").split(os.pathsep) if p]
    writable = [p for p in options.get("--write", "").split(os.pathsep) if p]
    # The course's own start-up comes before the watch: no code of the submission has run
    # yet, and judging the thousands of files Keras's backend opens would slow every kernel.
    if options.get("--warm") == "keras":
        warm_up_keras()
    sys.addaudithook(Watch(readable, writable, options.get("--report")))
    sys.argv = ["ipykernel_launcher", *argv[split + 1:]]
    import runpy

    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
