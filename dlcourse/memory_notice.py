"""Why the last kernel stopped, when the hub's memory limit stopped it (kernel side, on the course's hub).

On the hub, each person's server and kernels share a memory limit
(dlcourse/host/term/limits.py). A kernel that grows past it is stopped by the
Linux kernel, and JupyterLab says only that the kernel died and restarts it.
The hub's kernelspec loads this IPython extension into every kernel
(``--ext=dlcourse.memory_notice``): when the person's memory group has
stopped a process since the last kernel started, the first cell run in the
new kernel says what happened and what to do. Elsewhere (a laptop, CI, the
grading sandbox, a kernel that papermill or Validate starts) it does nothing.
"""

import json
import os
import sys
from pathlib import Path

from jupyter_core.paths import jupyter_runtime_dir

MEMORY_HIERARCHY = Path("/sys/fs/cgroup/memory")
RECORD = "dlcourse-memory-stops.json"
# Set by Jupyter Server for the kernels it starts for a notebook or console in JupyterLab.
SESSION_VARIABLE = "JPY_SESSION_NAME"
GB = 1024 ** 3


def own_group(proc_cgroup=Path("/proc/self/cgroup")):
    """Return the folder of this process's cgroup v1 memory group, or None
    when it is in none of its own (not on the hub)."""
    for line in proc_cgroup.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = MEMORY_HIERARCHY / path.lstrip("/")
            return folder if path.strip("/") and (folder / "memory.oom_control").is_file() else None
    return None


def stops(group):
    """Return how many processes ``group``'s memory limit has stopped."""
    fields = dict(line.split() for line in (group / "memory.oom_control").read_text().splitlines())
    return int(fields.get("oom_kill", 0))


def message(limit_bytes):
    """Return what the student reads in the first cell run after the limit stopped their kernel."""
    return (f"Your last kernel was stopped: with your other kernels, it needed more than the {limit_bytes / GB:.1f} "
            "GB of memory each person has on this hub. Everything it held (variables, models, data) is gone, so "
            "run the notebook again from the top. If it stops again, shut down the kernels you no longer need "
            "(Kernel > Shut Down All Kernels), train on fewer examples or in smaller batches, or ask your "
            "instructor.")


def stops_unseen(group, record):
    """Return how many stops in ``group`` no kernel has reported yet, and
    write the count into ``record`` (a JSON file) for the next kernel."""
    now = {"group": group.stat().st_ino, "stops": stops(group)}
    try:
        before = json.loads(record.read_text())
    except (OSError, ValueError):
        before = {}
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(now))
    seen = before.get("stops", 0) if before.get("group") == now["group"] else 0
    return max(0, now["stops"] - seen)


def load_ipython_extension(ipython):
    """Print :func:`message` before the first cell the kernel runs, if the
    person's memory limit stopped a kernel since the last one started; return None."""
    if not os.environ.get(SESSION_VARIABLE):   # papermill's, Validate's, a script's: no student reads it
        return
    try:
        group = own_group()
        if group is None or not stops_unseen(group, Path(jupyter_runtime_dir()) / RECORD):
            return
        limit = int((group / "memory.limit_in_bytes").read_text())
    except (OSError, ValueError):   # a kernel starts all the same; only the notice is lost
        return

    def notice(*_):
        ipython.events.unregister("pre_run_cell", notice)
        print(message(limit), file=sys.stderr, flush=True)

    ipython.events.register("pre_run_cell", notice)
