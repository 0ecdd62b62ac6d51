"""Each person's share of the hub's machine (host side: the hub).

Everything a person runs on the hub (their Jupyter server, its kernels and
terminals) runs in a control group of their own, ``dlcourse/<user>``, with
limits that the Linux kernel enforces:

- **Memory.** Past ``Spawner.mem_limit`` (swap included), the kernel stops
  the group's largest process: in practice the notebook kernel that grew.
  JupyterLab restarts it, and the new kernel tells the student why
  (:mod:`dlcourse.memory_notice`). Other people's groups are untouched.
  What a person leaves in ``/dev/shm`` stays charged to their group, which
  is kept from one server to the next, so a restart gives no fresh memory.
- **CPU.** Every group has the same weight (``LimitedSpawner.cpu_shares``):
  on a busy machine a person running ten kernels gets one person's share,
  not ten. ``Spawner.cpu_limit``, when set, also caps it (a CFS quota).
- **Processes.** At most ``LimitedSpawner.max_processes`` (threads count),
  so a fork bomb stays in its group and the machine can still start others'.

How: JupyterHub's own settings say how much, but its LocalProcessSpawner
leaves them unenforced, and the spawners that enforce them need what a
course server often lacks: SystemdSpawner needs systemd as init (with
D-Bus), DockerSpawner a Docker engine. :class:`LimitedSpawner` is
LocalProcessSpawner with Debian's cgroup-tools (libcgroup):

- ``cgcreate`` makes the group, all of it root's: no one else can change
  its limits, and no process can enter or leave it but by root.
- ``cgset`` sets the limits. The hub puts the server's process in the group
  (:func:`enter_group`) after it forks and before it becomes the person,
  so whatever the server starts stays in it.
- When the server stops, or dies on its own, whatever of the person's is
  left in the group is stopped (:func:`stop_processes`); anyone else's (a
  ``sudo`` from a staff terminal) is moved out, not stopped.

It needs cgroup v1's memory, cpu and pids controllers (:func:`check_machine`).
"""

import asyncio
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from jupyterhub.traitlets import ByteSpecification
from jupyterhub.utils import maybe_future
from traitlets import Bool, Integer, TraitError

from dlcourse.host.errors import UserError

CONTROLLERS = ("memory", "cpu", "pids")
CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "dlcourse"
TOOLS = ("cgcreate", "cgset")
MEMORY_VARIABLE = "DLCOURSE_MEMORY_LIMIT"
CPU_VARIABLE = "DLCOURSE_CPU_LIMIT"
# The IMDB lecture's two one-hot matrices alone are 25,000 x 10,000 float32,
# 1 GB each, and a server with a lecture and an assignment open holds both kernels.
DEFAULT_MEMORY = "4G"
NO_LIMITS = "0"
CFS_PERIOD_US = 100_000
EMPTYING_SECONDS = 10
UNLIMITED = -1   # memory.limit_in_bytes and memory.memsw.limit_in_bytes without a limit
NO_PROCESS_LIMIT = "max"


class LimitsError(UserError):
    """The machine cannot enforce the per-person limits, or a cgroup tool failed."""


def configured(environ=os.environ):
    """Return the (memory limit, CPU cap in cores or None) that each person
    gets on the hub, from DLCOURSE_MEMORY_LIMIT and DLCOURSE_CPU_LIMIT; None
    when DLCOURSE_MEMORY_LIMIT is NO_LIMITS (no groups at all).

    Raises:
        LimitsError: a setting is not an amount; the message names it and the fix.
    """
    memory = environ.get(MEMORY_VARIABLE, DEFAULT_MEMORY).strip()
    if memory == NO_LIMITS:
        return None
    if not positive(lambda: ByteSpecification().validate(None, memory)):
        raise LimitsError(f"{MEMORY_VARIABLE}={memory!r} is not an amount of memory. Fix: a number with K, M, G "
                          f"or T ({MEMORY_VARIABLE}=8G), or {NO_LIMITS} for no limits.")
    cpu = environ.get(CPU_VARIABLE, "").strip()
    if cpu and not positive(lambda: float(cpu)):
        raise LimitsError(f"{CPU_VARIABLE}={cpu!r} is not a number of cores. Fix: a number above 0 "
                          f"({CPU_VARIABLE}=2, or 0.5), or leave it unset for an equal share without a cap.")
    return memory, float(cpu) if cpu else None


def positive(read):
    """Return whether ``read()`` gives a number above 0 (False if it cannot read it)."""
    try:
        return read() > 0
    except (TraitError, ValueError):
        return False


def check_machine():
    """Return None when this machine can enforce the limits.

    Raises:
        LimitsError: a controller is not mounted or a tool is missing; the
            message names it and the fix.
    """
    missing = [c for c in CONTROLLERS if not (CGROUP_ROOT / c / "cgroup.procs").exists()]
    if missing:
        raise LimitsError(
            f"The hub's per-person limits need the cgroup v1 controllers {', '.join(missing)}, mounted at "
            f"{CGROUP_ROOT}/<controller>; this machine has no such folder. Fix: on a machine that boots systemd "
            "with cgroup v2, use jupyterhub-systemdspawner, which enforces the same Spawner.mem_limit and "
            f"cpu_limit (docs/hub.md); or run the hub without limits: sudo make hub {MEMORY_VARIABLE}={NO_LIMITS}.")
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        raise LimitsError(f"The hub's per-person limits need {', '.join(absent)}, from Debian's cgroup-tools, "
                          "which is not installed. Fix: sudo apt-get install cgroup-tools (make hub does).")


def group_name(username):
    """Return the name of ``username``'s group, under the course's parent group."""
    return f"{PARENT}/{username}"


def group_folders(username):
    """Return the folder of ``username``'s group in each controller's hierarchy."""
    return [CGROUP_ROOT / controller / group_name(username) for controller in CONTROLLERS]


def settings(mem_limit, cpu_cap, cpu_shares, max_processes):
    """Return the group's cgroup v1 settings as (file, value) pairs, in the
    order they must be set: a kept group may hold a lower or higher memory
    limit, and memory with swap must never be below memory alone."""
    values = [("cpu.shares", cpu_shares), ("cpu.cfs_period_us", CFS_PERIOD_US),
              ("cpu.cfs_quota_us", int(cpu_cap * CFS_PERIOD_US) if cpu_cap else UNLIMITED),
              ("pids.max", max_processes or NO_PROCESS_LIMIT)]
    memory = mem_limit or UNLIMITED
    if (CGROUP_ROOT / "memory" / "memory.memsw.limit_in_bytes").exists():   # swap accounting is on
        return [*values, ("memory.memsw.limit_in_bytes", UNLIMITED), ("memory.limit_in_bytes", memory),
                ("memory.memsw.limit_in_bytes", memory)]
    return [*values, ("memory.limit_in_bytes", memory), ("memory.swappiness", 0)]


def run_tool(argv):
    """Run a cgroup tool; return None.

    Raises:
        LimitsError: it failed; the message has its output.
    """
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise LimitsError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()}. Fix: check that "
                          f"root can make groups under {CGROUP_ROOT}/memory (a container may mount it read-only).")


def prepare_group(username, values):
    """Make ``username``'s group unless it is kept from their last server
    and set ``values`` (:func:`settings`); return its name."""
    name = group_name(username)
    run_tool(["cgcreate", "-g", f"{','.join(CONTROLLERS)}:{name}"])
    missing = [folder for folder in group_folders(username) if not folder.is_dir()]
    if missing:   # cgcreate can say why on stderr and still exit 0
        raise LimitsError(f"cgcreate made no group at {', '.join(map(str, missing))}. Fix: check that root can "
                          f"make groups under {CGROUP_ROOT}/memory (a container may mount it read-only).")
    for key, value in values:   # one at a time, in order
        run_tool(["cgset", "-r", f"{key}={value}", name])
    return name


def enter_group(folders, pid=0):
    """Put the process ``pid`` (0: this one) in the groups ``folders``
    (:func:`group_folders`), as root; return None."""
    for folder in folders:
        with open(folder / "cgroup.procs", "w") as procs:
            procs.write(str(pid))


def stop_processes(username):
    """Stop ``username``'s processes left in their group, and move anyone
    else's out of it; return the process ids stopped.

    The group may start no process meanwhile (pids.max 0), so a process that
    forks as it is stopped cannot outrun it; its limit is put back after.

    Raises:
        LimitsError: its processes did not end within EMPTYING_SECONDS.
    """
    folders = [folder for folder in group_folders(username) if folder.is_dir()]
    if not folders:
        return []
    pids_folder = CGROUP_ROOT / "pids" / group_name(username)
    allowed = (pids_folder / "pids.max").read_text().strip()
    (pids_folder / "pids.max").write_text("0")
    try:
        return empty(folders, pwd.getpwnam(username).pw_uid)
    finally:
        (pids_folder / "pids.max").write_text(allowed)


def empty(folders, uid):
    """Stop the processes of ``uid`` in the groups ``folders`` and move the
    others to the top groups, until the groups are empty; return the ids stopped.

    Raises:
        LimitsError: they did not empty within EMPTYING_SECONDS.
    """
    stopped, deadline = set(), time.monotonic() + EMPTYING_SECONDS
    while left := sorted({pid for folder in folders for pid in processes(folder)}):
        if time.monotonic() > deadline:
            raise LimitsError(f"Processes {left} of {folders[0].name}'s group did not end within "
                              f"{EMPTYING_SECONDS} s of SIGKILL. Fix: look for a process in D state (ps -o stat).")
        for pid in left:
            if signal_if_in(pid, folders, uid):
                stopped.add(pid)
            else:
                move_out(pid)
        time.sleep(0.05)
    return sorted(stopped)


def signal_if_in(pid, folders, uid):
    """SIGKILL ``pid`` if it is still in one of the groups ``folders`` (a
    person may move their own process into only some of them) and ``uid`` is
    any of its user ids (real, effective, saved, file system), checked
    through a pidfd so that a reused pid is never hit; return whether it was
    stopped or gone (False: someone else's, to be moved out)."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not any(pid in processes(folder) for folder in folders):
            return True
        if uid not in user_ids(pid):
            return False
        signal.pidfd_send_signal(handle, signal.SIGKILL)
        return True
    except (ProcessLookupError, FileNotFoundError):
        return True
    finally:
        os.close(handle)


def user_ids(pid):
    """Return the user ids of ``pid`` from /proc (its Uid line, which a process
    cannot hide, unlike the owner of /proc/<pid> after PR_SET_DUMPABLE 0)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return {int(uid) for uid in line.split()[1:]}
    return set()


def move_out(pid):
    """Move ``pid`` (someone else's, such as a ``sudo`` from a staff terminal)
    to the top group of each controller; return None."""
    for controller in CONTROLLERS:
        try:
            (CGROUP_ROOT / controller / "cgroup.procs").write_text(str(pid))
        except ProcessLookupError:
            return


def remove_group(username):
    """Stop what runs in ``username``'s group and remove the group (the
    tests' clean-up: the hub keeps a person's group); return the ids stopped.

    Raises:
        LimitsError: its processes did not end, or a folder could not be removed.
    """
    stopped = stop_processes(username)
    for folder in group_folders(username):
        remove_folder(folder)
    return stopped


def remove_folder(folder):
    """Remove an empty group's ``folder`` (cgroup v1 removes a group by its
    folder; libcgroup 2.0's cgdelete removes it from the first controller
    only); return None.

    Raises:
        LimitsError: it could not be removed.
    """
    try:
        folder.rmdir()
    except FileNotFoundError:
        pass
    except OSError as error:
        raise LimitsError(f"Could not remove the group {folder} ({error.strerror}). Fix: stop what runs in it "
                          f"(its cgroup.procs lists them), then rmdir {folder}.") from None


def processes(folder):
    """Return the process ids in the group ``folder`` (none if it is gone)."""
    try:
        return [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


class LimitedSpawner(LocalProcessSpawner):
    """LocalProcessSpawner that starts each server in its person's group,
    with ``mem_limit``, ``cpu_limit``, :attr:`cpu_shares` and
    :attr:`max_processes` (see the module's docstring)."""

    cpu_shares = Integer(1024, config=True, help="""Each person's CPU weight (cgroup v1 cpu.shares). Every person
        has the same, so a busy machine's CPU is shared equally between people, whatever number of kernels
        each runs.""")
    max_processes = Integer(4096, allow_none=True, config=True, help="""The most processes and threads a person's
        server, kernels and terminals may hold together (cgroup v1 pids.max); None for no limit. A TensorFlow
        kernel holds about a hundred threads.""")

    share_only = Bool(False, help="""Give this server an equal CPU share and no other limit (the hub's
        pre_spawn_hook sets it for staff: grading limits each submission's memory itself, and runs several).""")

    async def start(self):
        """Stop what a server killed outright left in the person's group,
        set the group's limits, and start the server in it; return its address.

        Raises:
            LimitsError: the machine cannot enforce the limits (the hub shows the message).
        """
        check_machine()
        self.log_stopped(await asyncio.to_thread(stop_processes, self.user.name), "left over")
        values = (settings(None, None, self.cpu_shares, None) if self.share_only
                  else settings(self.mem_limit, self.cpu_limit, self.cpu_shares, self.max_processes))
        await asyncio.to_thread(prepare_group, self.user.name, values)
        return await super().start()

    def make_preexec_fn(self, name):
        """Return what the server's process runs after it forks: enter the
        person's group (still as root), then become the person."""
        folders = group_folders(name)
        become = super().make_preexec_fn(name)

        def enter_then_become():
            enter_group(folders)
            become()

        return enter_then_become

    async def run_post_stop_hook(self):
        """After the server stopped, or died on its own (JupyterHub runs this
        either way), stop what the person left in the group; return None."""
        await maybe_future(super().run_post_stop_hook())
        self.log_stopped(await asyncio.to_thread(stop_processes, self.user.name), "after the server stopped")

    def log_stopped(self, pids, when):
        """Log the processes of the person's group stopped ``when``; return None."""
        if pids:
            self.log.warning("Stopped %s's processes %s, %s", self.user.name, pids, when)
