"""Host side, run inside the sandbox: a graded kernel that reports what it
tries on files.

``python -P -m dlcourse.host.watch --read DIRS --write DIRS [--warm keras] -- KERNEL_ARGS``
installs a Python audit hook, then starts ``ipykernel_launcher KERNEL_ARGS``
(with ``--warm keras``, it first imports Keras and starts its backend, the
start-up every graded notebook has, so that a kernel started ahead of its
submission has done it before the submission arrives; the hook comes after
that start-up and before any code of the submission).
The hook sees each attempt of the kernel's code to read, list, change or
remove a path, before the sandbox answers it. An attempt outside the folders
it may read (``--read``) or change (``--write``, each a list joined with
``os.pathsep``) becomes one line, :data:`MARK` and a JSON object, on the
kernel's original standard error: the grader's log, a file outside the
sandbox, opened for appending. The kernel's code cannot reopen that log
through ``/proc`` or ``/dev/fd``, nor truncate it: the hook refuses both (and
reports them).

:func:`read_attempts` reads the attempts back from the log, on the host.
"""

import json
import os
import re
import sys

MARK = "[dlcourse-watch] "
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Audit events that change a path (every path argument is judged), and those that read or list one.
CHANGES = {"os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.chmod", "os.chown", "os.link", "os.symlink",
           "os.truncate", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copytree"}
READS = {"os.listdir", "os.scandir", "glob.glob", "sqlite3.connect", "os.chdir"}
# Ways back to an open file (such as the grader's log) that the mount namespace does not show.
FILE_DESCRIPTOR_PATHS = re.compile(r"^/(proc/(self|thread-self|\d+)(/task/\d+)?/fd|dev/(fd|stdin|stdout|stderr))(/|$)")


class Watch:
    """The audit hook: report attempts outside the allowed folders."""

    def __init__(self, readable, writable, trace_fd):
        self.readable = [os.path.realpath(p) for p in readable + writable]
        self.writable = [os.path.realpath(p) for p in writable]
        self.trace_fd = trace_fd
        self.trace = os.fstat(trace_fd)
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
        refuse it (an attempt on the grader's log), else None."""
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int):  # ipykernel opens its inherited streams by descriptor; the log
                return None           # stays safe: appended to only, and truncating it is refused
            action = "write" if (flags or 0) & WRITE_FLAGS or (mode and set(mode) & set("wax+")) else "read"
            return self.check(action, path)
        if event == "os.truncate" and isinstance(args[0], int):
            return self.check_descriptor(args[0], "truncate")
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
            self.report(action, named)
        return None

    def check_descriptor(self, fd, action):
        try:
            same = os.path.samestat(os.fstat(fd), self.trace)
        except OSError:
            return None
        if same:
            self.report(action, f"file descriptor {fd} (the grader's log)", refused=True)
            return "the grading sandbox refuses this"
        return None

    def report(self, action, path, refused=False):
        if (action, path) in self.seen:
            return
        self.seen.add((action, path))
        line = MARK + json.dumps({"action": action, "path": path, "refused": refused}) + "\n"
        os.write(self.trace_fd, line.encode())


MAX_ATTEMPTS = 20   # attempts reported one by one for a submission; the rest are counted


def read_attempts(log_text):
    """Return the attempts a watched kernel reported in the grader's log: a
    list of {"action", "path", "refused"} dicts, in order, without repeats,
    at most MAX_ATTEMPTS; and how many more there were."""
    attempts, seen, more = [], set(), 0
    for line in log_text.splitlines():
        if not line.startswith(MARK):
            continue
        try:
            attempt = json.loads(line[len(MARK):])
            key = json.dumps(attempt, sort_keys=True)
        except (ValueError, TypeError):
            continue
        if not isinstance(attempt, dict) or key in seen:
            continue
        seen.add(key)
        if len(attempts) < MAX_ATTEMPTS:
            attempts.append(attempt)
        else:
            more += 1
    return attempts, more


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
    sys.addaudithook(Watch(readable, writable, os.dup(2)))
    sys.argv = ["ipykernel_launcher", *argv[split + 1:]]
    import runpy

    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
