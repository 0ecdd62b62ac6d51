"""Each person's share of the hub's machine (host side: the hub).

Everything a person runs on the hub (their Jupyter server, its kernels and
terminals) runs in a control group of their own, ``dlcourse/<user>``, with
limits that the Linux kernel enforces:

- **Memory.** Past ``Spawner.mem_limit`` (swap included), the kernel stops
  the group's largest process: in practice the notebook kernel that grew.
  JupyterLab restarts it, and the new kernel tells the student why
  (:mod:`dlcourse.memory_notice`). Other people's groups are untouched.
- **CPU.** Every group has the same weight (``LimitedSpawner.cpu_shares``):
  on a busy machine a person running ten kernels gets one person's share,
  not ten. ``Spawner.cpu_limit``, when set, also caps it (a CFS quota).

How: JupyterHub's own settings say how much, but its LocalProcessSpawner
leaves them unenforced, and the spawners that enforce them need what a
course server often lacks: SystemdSpawner needs systemd as init (with
D-Bus), DockerSpawner a Docker engine. :class:`LimitedSpawner` is
LocalProcessSpawner with Debian's cgroup-tools (libcgroup):

- ``cgcreate`` makes the group. Its limits are root's, so only root changes
  them; the person owns its ``tasks`` file, so they can enter it, and
  cannot leave it, because the groups above it are root's.
- ``cgset`` sets the limits, and ``cgexec`` starts the server in the group.
  Whatever the server starts stays in it.
- Stopping the server stops whatever is left in the group (a kernel of a
  server killed outright, say) and removes the group.

It needs cgroup v1's memory and cpu controllers (:func:`check_machine`).
"""

import asyncio
import grp
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from jupyterhub.traitlets import ByteSpecification
from traitlets import Integer, TraitError

from dlcourse.host.errors import UserError

CONTROLLERS = ("memory", "cpu")
CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "dlcourse"
TOOLS = ("cgcreate", "cgset", "cgexec")
MEMORY_VARIABLE = "DLCOURSE_MEMORY_LIMIT"
CPU_VARIABLE = "DLCOURSE_CPU_LIMIT"
# A lecture's kernel needs up to about 2 GB (the IMDB lecture's one-hot
# matrices), and a server with a lecture and an assignment open holds both.
DEFAULT_MEMORY = "4G"
NO_LIMITS = "0"
CFS_PERIOD_US = 100_000
EMPTYING_SECONDS = 10


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
            f"The hub's per-person limits need cgroup v1's {' and '.join(missing)} controller, mounted at "
            f"{CGROUP_ROOT}/<controller>; this machine has none there. Fix: on a machine that boots systemd "
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


def settings(mem_limit, cpu_cap, cpu_shares):
    """Return the group's cgroup v1 settings, in the order they must be set
    (memory with swap after memory alone)."""
    values = {"cpu.shares": cpu_shares}
    if cpu_cap:
        values.update({"cpu.cfs_period_us": CFS_PERIOD_US, "cpu.cfs_quota_us": int(cpu_cap * CFS_PERIOD_US)})
    if mem_limit:
        values["memory.limit_in_bytes"] = mem_limit
        if (CGROUP_ROOT / "memory" / "memory.memsw.limit_in_bytes").exists():   # swap accounting is on
            values["memory.memsw.limit_in_bytes"] = mem_limit
    return values


def run_tool(argv):
    """Run a cgroup tool; return None.

    Raises:
        LimitsError: it failed; the message has its output.
    """
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise LimitsError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()}. Fix: check that "
                          f"root can make groups under {CGROUP_ROOT}/memory (a container may mount it read-only).")


def make_group(username, values):
    """Make ``username``'s group, theirs to enter and root's to limit, with
    ``values`` (:func:`settings`); return its name."""
    name = group_name(username)
    owner = f"{username}:{grp.getgrgid(pwd.getpwnam(username).pw_gid).gr_name}"   # cgcreate takes names only
    run_tool(["cgcreate", "-t", owner, "-g", f"{','.join(CONTROLLERS)}:{name}"])
    missing = [folder for folder in group_folders(username) if not folder.is_dir()]
    if missing:   # cgcreate can say why on stderr and still exit 0
        raise LimitsError(f"cgcreate made no group at {', '.join(map(str, missing))}. Fix: check that root can "
                          f"make groups under {CGROUP_ROOT}/memory (a container may mount it read-only).")
    run_tool(["cgset", *[f"-r{key}={value}" for key, value in values.items()], name])
    return name


def remove_group(username):
    """Stop whatever still runs in ``username``'s group, then remove the
    group; return the process ids stopped (none when it was empty or absent).

    Raises:
        LimitsError: its processes did not end, or a folder could not be removed.
    """
    folders = [folder for folder in group_folders(username) if folder.is_dir()]
    stopped = sorted({pid for folder in folders for pid in processes(folder)})
    for pid in stopped:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + EMPTYING_SECONDS
    while any(processes(folder) for folder in folders):
        if time.monotonic() > deadline:
            raise LimitsError(f"{username}'s processes {stopped} did not end within {EMPTYING_SECONDS} s of SIGKILL.")
        time.sleep(0.1)
    for folder in folders:
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
    with ``mem_limit``, ``cpu_limit`` and :attr:`cpu_shares` (see the
    module's docstring)."""

    cpu_shares = Integer(1024, config=True, help="""Each person's CPU weight (cgroup v1 cpu.shares). Every person
        has the same, so a busy machine's CPU is shared equally between people, whatever number of kernels
        each runs.""")

    async def start(self):
        """Make the person's group (after removing what a server killed
        outright left in it) and start the server in it; return its address.

        Raises:
            LimitsError: the machine cannot enforce the limits (the hub shows the message).
        """
        check_machine()
        self.log_stopped(await asyncio.to_thread(remove_group, self.user.name), "left over")
        try:
            name = await asyncio.to_thread(make_group, self.user.name,
                                           settings(self.mem_limit, self.cpu_limit, self.cpu_shares))
            return await self.start_in(name)
        except BaseException:
            await asyncio.to_thread(remove_group, self.user.name)
            raise

    async def start_in(self, name):
        """Start the server in the group ``name``; return its address."""
        command = self.cmd
        self.cmd = ["cgexec", "-g", f"{','.join(CONTROLLERS)}:{name}", *command]
        try:
            return await super().start()
        finally:
            self.cmd = command

    async def stop(self, now=False):
        """Stop the server, then what is left in its group, and remove the group; return None."""
        await super().stop(now=now)
        self.log_stopped(await asyncio.to_thread(remove_group, self.user.name), "after its server stopped")

    def log_stopped(self, pids, when):
        """Log the processes of the person's group stopped ``when``; return None."""
        if pids:
            self.log.warning("Stopped %s's processes %s, %s", self.user.name, pids, when)
