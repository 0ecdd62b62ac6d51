"""Host side: supervise a process tree (start-to-end limits, peak memory, kill).

The notebook runner and the grader both use it: a kernel or an nbgrader run
is a tree of processes, measured and stopped as a whole.
"""

import collections
import contextlib
import os
import signal
import subprocess
import time

import psutil

POLL_SECONDS = 0.25


def process_tree(pid):
    """Return the process ``pid`` and all its descendants ([] if it has ended).

    Not psutil's ``children(recursive=True)``: it leaves out a child whose
    start, in wall-clock time, seems earlier than its parent's, and when the
    machine's clock is set back (a virtual machine's often is) that is every
    child started since, so a process started in a loop could outlive a kill.
    """
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return []
    children = collections.defaultdict(list)
    for process in psutil.process_iter(["ppid"]):
        children[process.info["ppid"]].append(process)
    tree, stack, seen = [root], [pid], {pid}
    while stack:
        for child in children[stack.pop()]:
            if child.pid not in seen:
                seen.add(child.pid)
                tree.append(child)
                stack.append(child.pid)
    return tree


def rss_bytes(processes):
    """Return the resident memory of these processes together, in bytes
    (a process that has ended counts 0)."""
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total


def memfd_bytes(processes):
    """Return the memory in memory files (``memfd_create``) that these
    processes hold open or map and that no resident memory shows, in bytes,
    each file once. Such a file is in no process's resident memory until its
    pages are mapped and touched; the pages that are (a mapping's ``Rss``)
    are left out here, since :func:`rss_bytes` counts them. A file that is
    only mapped is found where this process may read ``/proc/<pid>/map_files``
    (root may)."""
    held, resident = {}, 0
    for process in processes:
        places = []
        with contextlib.suppress(OSError):
            places += [e.path for e in os.scandir(f"/proc/{process.pid}/fd") if _is_memfd(e.path)]
        for span, rss in _memfd_mappings(process.pid):
            places.append(f"/proc/{process.pid}/map_files/{span}")
            resident += rss
        for place in places:
            with contextlib.suppress(OSError):
                status = os.stat(place)
                held[status.st_dev, status.st_ino] = status.st_blocks * 512
    return max(0, sum(held.values()) - resident)


def _memfd_mappings(pid):
    """Return [(address span, resident bytes)] of the memory files process ``pid`` maps
    ([] when it maps none, or has ended)."""
    mappings, span = [], None
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/maps") as maps:
            if not any("/memfd:" in line for line in maps):
                return []
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                fields = line.split()
                if "-" in fields[0] and ":" not in fields[0]:
                    span = fields[0] if "/memfd:" in line else None
                elif span and fields[0] == "Rss:":
                    mappings.append((span, int(fields[1]) * 1024))
    return mappings


def _is_memfd(link):
    try:
        return os.readlink(link).startswith("/memfd:")
    except OSError:
        return False


def memory_bytes(processes):
    """Return the memory these processes hold, in bytes: their resident
    memory and the memory files they hold (:func:`memfd_bytes`)."""
    return rss_bytes(processes) + memfd_bytes(processes)


def kill(processes, timeout=10):
    """Kill ``processes`` and wait until none runs. A killed process that is
    not our child stays a zombie until init reaps it (here up to 1 s later);
    it runs no code, so it counts as ended."""
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass
    deadline = time.monotonic() + timeout
    while any(map(is_running, processes)) and time.monotonic() < deadline:
        time.sleep(0.01)


def is_running(process):
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def supervise(process, memory_mb, wall_seconds, poll=POLL_SECONDS, max_processes=None):
    """Wait for ``process`` (a Popen) while its tree stays within the limits
    (with ``max_processes``, also at most that many processes at once);
    return (the limit it hit: "memory", "wall", "processes" or None; its
    peak in MB, as :func:`memory_bytes` counts). Kills the whole tree when a
    limit is hit, and always at the end."""
    start, peak, hit = time.monotonic(), 0.0, None
    known = {}
    while process.poll() is None:
        tree = process_tree(process.pid)
        known.update({p.pid: p for p in tree})
        peak = max(peak, memory_bytes(tree) / 2**20)
        if peak > memory_mb:
            hit = "memory"
        elif max_processes and len(tree) > max_processes:
            hit = "processes"
        elif time.monotonic() - start > wall_seconds:
            hit = "wall"
        if hit:
            break
        try:
            process.wait(timeout=poll)  # returns as soon as it ends, not at the next poll
        except subprocess.TimeoutExpired:
            pass
    frozen = freeze(process.pid, known)
    signal_group(process.pid, signal.SIGKILL)
    kill(frozen)
    process.wait()
    return hit, peak


def signal_group(pid, number):
    """Send the signal ``number`` to the process group that ``pid`` leads
    (at once, to every member, a process being started too); return None.
    Nothing is sent when ``pid`` leads no group, or has ended."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, number)
    except (ProcessLookupError, PermissionError):
        pass


def freeze(pid, known=None):
    """Stop (SIGSTOP) the process group ``pid`` leads, then the process
    ``pid`` and all its descendants, again until no new one appears (a
    stopped process cannot start another, so a process started in a loop
    cannot outrun it); return them, with the
    psutil processes ``known`` ({pid: process}) that are no longer in the tree."""
    known = dict(known or {})
    signal_group(pid, signal.SIGSTOP)   # its group first; then those that left it, found one by one
    while True:
        tree = process_tree(pid)
        new = [p for p in tree if p.pid not in known or known[p.pid] != p]
        for process in tree:
            try:
                process.suspend()
            except psutil.Error:
                pass
        # A signal is delivered later than it is sent: until each has stopped, it may start one more.
        _wait_until_stopped(tree)
        known.update({p.pid: p for p in tree})
        if not new:
            return list(known.values())


STOPPED = {psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP, psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD}


def _wait_until_stopped(processes, timeout=1.0):
    """Return once each of ``processes`` has stopped or ended, or after
    ``timeout`` seconds (a process in the kernel, as a parent waiting for its
    vfork child, stops only when it leaves)."""
    deadline = time.monotonic() + timeout
    for process in processes:
        while time.monotonic() < deadline:
            try:
                if process.status() in STOPPED:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.001)
