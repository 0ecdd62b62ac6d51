"""Host side: supervise a process tree (start-to-end limits, peak memory, kill).

The notebook runner and the grader both use it: a kernel or an nbgrader run
is a tree of processes, measured and stopped as a whole.
"""

import subprocess
import time

import psutil

POLL_SECONDS = 0.25


def process_tree(pid):
    """Return the process ``pid`` and all its descendants ([] if it has ended)."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


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
    peak in MB). Kills the whole tree when a limit is hit, and always at the end."""
    start, peak, hit = time.monotonic(), 0.0, None
    known = {}
    while process.poll() is None:
        tree = process_tree(process.pid)
        known.update({p.pid: p for p in tree})
        peak = max(peak, rss_bytes(tree) / 2**20)
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
    kill(freeze(process.pid, known))
    process.wait()
    return hit, peak


def freeze(pid, known=None):
    """Stop (SIGSTOP) the process ``pid`` and all its descendants, again
    until no new one appears (a stopped process cannot start another, so a
    process started in a loop cannot outrun it); return them, with the
    psutil processes ``known`` ({pid: process}) that are no longer in the tree."""
    known = dict(known or {})
    while True:
        tree = process_tree(pid)
        new = [p for p in tree if p.pid not in known or known[p.pid] != p]
        for process in tree:
            try:
                process.suspend()
            except psutil.Error:
                pass
        known.update({p.pid: p for p in tree})
        if not new:
            return list(known.values())
