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


def supervise(process, memory_mb, wall_seconds, poll=POLL_SECONDS):
    """Wait for ``process`` (a Popen) while its tree stays within the limits;
    return (the limit it hit: "memory", "wall" or None; its peak in MB).
    Kills the whole tree when a limit is hit, and always at the end."""
    start, peak, hit = time.monotonic(), 0.0, None
    known = {}
    while process.poll() is None:
        tree = process_tree(process.pid)
        known.update({p.pid: p for p in tree})
        peak = max(peak, rss_bytes(tree) / 2**20)
        if peak > memory_mb:
            hit = "memory"
        elif time.monotonic() - start > wall_seconds:
            hit = "wall"
        if hit:
            break
        try:
            process.wait(timeout=poll)  # returns as soon as it ends, not at the next poll
        except subprocess.TimeoutExpired:
            pass
    kill(list(known.values()) + process_tree(process.pid))
    process.wait()
    return hit, peak
