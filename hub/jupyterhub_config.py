"""JupyterHub for the course: one machine, real Unix accounts from the roster.

`make hub` runs `python -m dlcourse hub` (accounts, folders,
permissions) and then JupyterHub with this file. Settings come from the
environment, with defaults for a course server:

    DLCOURSE_HUB_DIR   the hub folder (default /srv/dlcourse; see dlcourse/host/term/hub.py)
    DLCOURSE_ROSTER    the roster CSV (default hub/roster.csv)
    DLCOURSE_HUB_URL   where the hub listens (default http://:8000, every interface)
    DLCOURSE_COURSE    the course directory (default this repository)
    DLCOURSE_HUB_API_URL, DLCOURSE_PROXY_API_URL   the hub's and the proxy's
                       internal APIs (default http://127.0.0.1:8081 and :8001)
    DLCOURSE_IDLE_MINUTES   a server idle this long is stopped (default 60)
    DLCOURSE_MEMORY_LIMIT   each person's memory, server and kernels together
                       (default: dlcourse/host/term/limits.py; 0: no groups, no limits)
    DLCOURSE_CPU_LIMIT      each person's CPU cap in cores (default none:
                       an equal share of the machine each)
    KERAS_BACKEND      the Keras backend of every server, kernel and grading
                       (`make hub KERAS_BACKEND=jax`; default tensorflow)

Log-in: PAM, the machine's own accounts and passwords (new accounts get a
random one, listed in <hub dir>/state/new-accounts.csv). A university's
single sign-on replaces it with one line: see docs/hub.md.
"""

import os
import sys
from pathlib import Path

from dlcourse.datasets import files
from dlcourse.host import backends
from dlcourse.host.extensions import receipts
from dlcourse.host.term import hub, limits
from dlcourse.host.course import Course

c = get_config()  # noqa: F821 -- provided by JupyterHub when it loads this file

HERE = Path(__file__).resolve().parent
LAYOUT = Course.at(os.environ.get("DLCOURSE_COURSE", HERE.parent))
COURSE = LAYOUT.root
HUB = hub.HubDir(os.environ.get("DLCOURSE_HUB_DIR", hub.DEFAULT_HUB_DIR), LAYOUT.course_id)
ROSTER = Path(os.environ.get(hub.ROSTER_VARIABLE, HERE / "roster.csv")).resolve()
SINGLEUSER = str(Path(sys.executable).parent / "jupyterhub-singleuser")

c.JupyterHub.bind_url = os.environ.get("DLCOURSE_HUB_URL", "http://:8000")
c.JupyterHub.hub_bind_url = os.environ.get("DLCOURSE_HUB_API_URL", "http://127.0.0.1:8081")
c.ConfigurableHTTPProxy.api_url = os.environ.get("DLCOURSE_PROXY_API_URL", "http://127.0.0.1:8001")
c.JupyterHub.cookie_secret_file = str(HUB.state / "jupyterhub_cookie_secret")
c.JupyterHub.db_url = f"sqlite:///{HUB.state / 'jupyterhub.sqlite'}"
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(HUB.state / "proxy.pid")
c.JupyterHub.pid_file = str(HUB.pid_file)   # `make hub` again sees the hub runs, and only adds the new people

c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
# The course's two groups, read at each log-in: people `make hub` adds while
# the hub runs can log in at once, without a restart.
c.LocalAuthenticator.allowed_groups = {hub.STAFF_GROUP, hub.STUDENT_GROUP}

# Each user's server and kernels run as that user, from the course's environment,
# in a control group of their own: a memory limit and an equal CPU share
# (dlcourse/host/term/limits.py). The hub's kernelspec says when the limit stopped a kernel.
LIMITS = limits.configured()
if LIMITS:
    c.JupyterHub.spawner_class = limits.LimitedSpawner
    c.Spawner.mem_limit, c.Spawner.cpu_limit = LIMITS
else:
    c.JupyterHub.spawner_class = "localprocess"
c.Spawner.default_url = "/lab"
c.Spawner.disable_user_config = True  # a student's ~/.jupyter cannot switch the instructor's tools back on
c.Spawner.environment = {files.DATA_DIR_VARIABLE: str(files.data_dir() or files.SHARED_DATA_DIR),
                         backends.VARIABLE: backends.require(backends.chosen()),
                         "JUPYTER_PATH": str(HUB.jupyter_path)}


def pre_spawn_hook(spawner):
    """Students start in their copy of the student edition, with the
    student configuration and the hub's limits; staff start in the course
    directory, with the staff configuration, share files through their group
    (umask 007), and have only an equal CPU share: grading limits each
    submission's memory itself, and runs several at once."""
    staff = spawner.user.name in hub.group_members(hub.STAFF_GROUP)
    if LIMITS:
        spawner.share_only = staff
    if staff:
        spawner.environment["JUPYTER_CONFIG_PATH"] = str(HUB.staff_config)
        spawner.environment[hub.ROSTER_VARIABLE] = str(ROSTER)  # for the grades' downloads
        spawner.notebook_dir = str(COURSE)
        spawner.cmd = ["/bin/sh", "-c", 'umask 007 && exec "$@"', "sh", SINGLEUSER]
    else:
        spawner.environment["JUPYTER_CONFIG_PATH"] = str(HUB.student_config)
        spawner.notebook_dir = hub.STUDENT_FOLDER
        spawner.cmd = [SINGLEUSER]


c.Spawner.pre_spawn_hook = pre_spawn_hook

# The exchange's trusted side: receipts (owner, time, hash) of every
# submission as it arrives, written as an account of its own that students
# cannot act as (dlcourse/host/extensions/receipts.py). collect reads them.
RECEIPTS = {
    "name": "exchange-receipts",
    "user": receipts.ACCOUNT,
    "cwd": "/",
    "command": [sys.executable, "-m", "dlcourse", "receipts", str(HUB.course_exchange)],
}

# A server idle for DLCOURSE_IDLE_MINUTES (default an hour) is stopped, its
# memory given back; the student's files stay, and the next log-in starts it
# again. jupyterhub-idle-culler, as an unprivileged account with only the
# scopes it needs.
IDLE_MINUTES = int(os.environ.get("DLCOURSE_IDLE_MINUTES", "60"))
CULLER = {
    "name": "idle-culler",
    "user": hub.CULLER_ACCOUNT,
    "cwd": "/",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={IDLE_MINUTES * 60}",
                f"--cull-every={max(60, IDLE_MINUTES * 60 // 10)}"],
}
c.JupyterHub.services = [RECEIPTS, CULLER]
c.JupyterHub.load_roles = [{"name": "idle-culler", "services": [CULLER["name"]],
                            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]}]
