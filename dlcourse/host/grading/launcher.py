"""Host side: start each submission's nbgrader process from one that has
already imported nbgrader.

nbgrader's imports take about a second of CPU, the same for every
submission. A grading process therefore keeps one launcher:

    python -c LAUNCHER_MAIN FD

imports nbgrader and :mod:`dlcourse.host.grading.prelaunch`, then waits on the Unix
socket FD (its end of a socket pair with the grading process). Each request
holds the new process's arguments, folder and environment, with three open
files: its standard input (a pipe the grading process writes to), the log it
writes standard output and error to, and a status pipe. The launcher forks;
the new process starts a session of its own and runs
:func:`dlcourse.host.grading.prelaunch.main` with those arguments, as
``python -c PRELAUNCH_MAIN ...`` would, and the launcher answers with its
PID. When the process ends, the launcher writes its exit code to the status
pipe and closes it. At end of input (the grading process has ended) the
launcher leaves.

The launcher never runs nbgrader or a notebook itself: each submission's
nbgrader process is a fresh copy of it that no submission touched before, and
that copy starts the submission's kernel in a new sandbox, as before.
"""

import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import psutil

# nbgrader spends 2.7 s of its 5 s start importing rfc3987_syntax, which jsonschema
# loads only to check "iri" formats that notebooks never use; the grader skips it.
LAUNCHER_MAIN = ("import sys; sys.modules['rfc3987_syntax'] = None; "
                 "from dlcourse.host.grading.launcher import serve; serve(int(sys.argv[1]))")
KILLED = -9   # the exit code reported when the launcher died before the process ended


def serve(fd):
    """Fork one prelaunch process per request on the socket ``fd``, until end
    of input; return None."""
    import nbgrader.apps.nbgraderapp  # noqa: F401 (the imports every prelaunch process needs, done once)

    from . import prelaunch

    control = socket.socket(fileno=fd)
    waiting = {}  # pidfd -> (pid, status pipe)
    while True:
        ready, _, _ = select.select([control, *waiting], [], [])
        for pidfd in [r for r in ready if r in waiting]:
            pid, status = waiting.pop(pidfd)
            os.close(pidfd)
            os.write(status, str(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])).encode())
            os.close(status)
        if control in ready:
            message, fds, _, _ = socket.recv_fds(control, 1 << 20, 3)
            if not message:
                return
            stdin, log, status = fds
            pid = os.fork()
            if pid == 0:
                inherited = [control.fileno(), status, *waiting, *(s for _, s in waiting.values())]
                _run_child(json.loads(message), stdin, log, inherited, prelaunch)
            os.close(stdin)
            os.close(log)
            waiting[os.pidfd_open(pid)] = (pid, status)
            control.sendall(f"{pid}\n".encode())


def _run_child(request, stdin, log, inherited, prelaunch):
    """In the forked process: take the request's files, folder and
    environment and run the prelaunch process; never returns."""
    code = 1
    try:
        for fd in inherited:
            os.close(fd)
        os.dup2(stdin, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(stdin)
        os.close(log)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None   # found again from this request's TMPDIR
        code = prelaunch.main(request["argv"])
    except BaseException:
        traceback.print_exc()
    prelaunch.leave(code)


class Launched:
    """A process the launcher started, with the part of
    :class:`subprocess.Popen` that grading uses: pid, stdin, returncode,
    poll() and wait()."""

    def __init__(self, pid, stdin, status):
        self.pid, self.stdin, self.returncode = pid, stdin, None
        self._status = status   # the read end of its status pipe
        os.set_blocking(status, False)

    def poll(self):
        """Return its exit code, or None while it runs."""
        if self.returncode is None:
            try:
                data = os.read(self._status, 32)
            except BlockingIOError:
                return None
            if data:
                self.returncode = int(data)
            elif _running(self.pid):
                return None   # the launcher died first; the process still runs
            else:
                self.returncode = KILLED
            os.close(self._status)
        return self.returncode

    def wait(self, timeout=None):
        """Wait until it ends; return its exit code.

        Raises:
            subprocess.TimeoutExpired: it still runs after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired("prelaunch", timeout)
            if select.select([self._status], [], [], left)[0] and self.poll() is None:
                time.sleep(0.05)   # the launcher died: its pipe is at its end while the process runs
        return self.returncode


def _running(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Launcher:
    """A grading process's launcher: started at its first request with that
    request's environment, and again if it died."""

    def __init__(self):
        self._lock = threading.Lock()
        self._process = self._control = self._replies = None

    def _start(self, env):
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen([sys.executable, "-c", LAUNCHER_MAIN, str(theirs.fileno())],
                                         env=env, stdin=subprocess.DEVNULL, pass_fds=[theirs.fileno()],
                                         start_new_session=True)
        theirs.close()
        self._control, self._replies = ours, ours.makefile("r")

    def launch(self, argv, cwd, env, log):
        """Start ``prelaunch.main(argv)`` in ``cwd`` with ``env``, writing to
        the file ``log`` (appended to); return its :class:`Launched`."""
        stdin_read, stdin_write = os.pipe()
        status_read, status_write = os.pipe()
        request = json.dumps({"argv": argv, "cwd": str(cwd), "env": env}).encode()
        try:
            with self._lock, open(log, "a") as out:
                if self._process is None or self._process.poll() is not None:
                    self._start(env)
                socket.send_fds(self._control, [request], [stdin_read, out.fileno(), status_write])
                reply = self._replies.readline()
        finally:
            os.close(stdin_read)
            os.close(status_write)
        if not reply:
            os.close(stdin_write)
            os.close(status_read)
            raise OSError("the launcher ended before it started the process; its errors are in this worker's log")
        return Launched(int(reply), open(stdin_write, "w"), status_read)

    def close(self):
        """End the launcher (its processes go on); return None."""
        with self._lock:
            if self._process is not None:
                self._replies.close()
                self._control.close()
                self._process.wait()
                self._process = None
