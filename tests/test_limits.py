"""Each person's share of the hub (dlcourse/host/term/limits.py) and the kernel's
notice when the memory limit stopped the last kernel (dlcourse/memory_notice.py).
The real groups, the real stop and the real notice are in test_hub.py."""

import grp
import json
import os
import pwd
import signal
import subprocess
import time

import pytest

from dlcourse import memory_notice
from dlcourse.host.term import limits


def test_the_settings_never_put_swap_below_memory_and_clear_what_is_not_asked(monkeypatch, tmp_path):
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.memsw.limit_in_bytes").touch()
    monkeypatch.setattr(limits, "CGROUP_ROOT", tmp_path)
    values = limits.settings(2**30, None, 1024, 4096)
    assert values[-3:] == [("memory.memsw.limit_in_bytes", -1), ("memory.limit_in_bytes", 2**30),
                           ("memory.memsw.limit_in_bytes", 2**30)], "a kept group's lower swap limit would refuse"
    assert dict(values[:4]) == {"cpu.shares": 1024, "cpu.cfs_period_us": 100_000, "cpu.cfs_quota_us": -1,
                                "pids.max": 4096}
    staff = dict(limits.settings(None, 1.5, 512, None))
    assert (staff["memory.limit_in_bytes"], staff["cpu.cfs_quota_us"], staff["pids.max"]) == (-1, 150_000, "max")


def test_the_configured_limits_come_from_the_environment():
    assert limits.configured({}) == (limits.DEFAULT_MEMORY, None)
    assert limits.configured({limits.MEMORY_VARIABLE: " 8G ", limits.CPU_VARIABLE: "1.5"}) == ("8G", 1.5)
    assert limits.configured({limits.MEMORY_VARIABLE: limits.NO_LIMITS}) is None


@pytest.mark.parametrize("setting, value", [(limits.MEMORY_VARIABLE, "lots"), (limits.MEMORY_VARIABLE, "-1G"),
                                            (limits.CPU_VARIABLE, "two"), (limits.CPU_VARIABLE, "0")])
def test_a_bad_limit_is_refused_with_the_fix(setting, value):
    with pytest.raises(limits.LimitsError, match=f"{setting}='{value}' is not .*Fix: ") as refused:
        limits.configured({setting: value})
    assert "Traceback" not in str(refused.value)


def test_a_machine_without_the_controllers_is_refused_with_the_fix(monkeypatch, tmp_path):
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "cgroup.procs").touch()
    monkeypatch.setattr(limits, "CGROUP_ROOT", tmp_path)
    with pytest.raises(limits.LimitsError, match="cgroup v1 controllers cpu, pids, mounted") as refused:
        limits.check_machine()
    assert "jupyterhub-systemdspawner" in str(refused.value) and f"{limits.MEMORY_VARIABLE}=0" in str(refused.value)


def fake_group(folder, stops, limit=3 * 2**30):
    folder.mkdir(exist_ok=True)
    (folder / "memory.oom_control").write_text(f"oom_kill_disable 0\nunder_oom 0\noom_kill {stops}\n")
    (folder / "memory.limit_in_bytes").write_text(f"{limit}\n")
    return folder


def test_a_kernels_own_group_is_read_from_proc(monkeypatch, tmp_path):
    monkeypatch.setattr(memory_notice, "MEMORY_HIERARCHY", tmp_path)
    fake_group(tmp_path / "dlcourse", 0)
    group = fake_group(tmp_path / "dlcourse" / "ana", 0)
    proc = tmp_path / "cgroup"
    proc.write_text("9:name=systemd:/\n4:memory:/dlcourse/ana\n1:cpu:/dlcourse/ana\n0::/\n")
    assert memory_notice.own_group(proc) == group
    proc.write_text("4:memory:/\n0::/\n")
    assert memory_notice.own_group(proc) is None, "a kernel outside a group of its own (a laptop) must do nothing"


def test_each_stop_is_told_once_and_a_new_group_starts_from_nothing(tmp_path):
    record = tmp_path / "runtime" / memory_notice.RECORD
    group = fake_group(tmp_path / "ana", 0)
    assert memory_notice.stops_unseen(group, record) == 0          # the first kernel
    fake_group(group, 1)
    assert memory_notice.stops_unseen(group, record) == 1          # the kernel restarted after the stop
    assert memory_notice.stops_unseen(group, record) == 0          # another notebook's kernel, later
    group.rename(tmp_path / "old")
    assert memory_notice.stops_unseen(fake_group(tmp_path / "other", 0), record) == 0
    record.write_text("not json")
    assert memory_notice.stops_unseen(fake_group(tmp_path / "other", 2), record) == 2
    assert json.loads(record.read_text())["stops"] == 2


def test_only_a_kernel_jupyterlab_started_tells(monkeypatch):
    monkeypatch.delenv(memory_notice.SESSION_VARIABLE, raising=False)
    monkeypatch.setattr(memory_notice, "own_group", lambda: pytest.fail("papermill's kernel looked for a notice"))
    memory_notice.load_ipython_extension(None)


def test_the_notice_names_the_limit_and_what_to_do():
    told = memory_notice.message(3 * 2**30)
    assert "3.0 GB" in told and "again from the top" in told and "Shut Down All Kernels" in told


# Forks a sleeping child, again and again, and tries again when the group's process limit refuses.
FORKS_FOR_EVER = """import os, time
while True:
    try:
        if os.fork() == 0:
            time.sleep(100)
            os._exit(0)
    except OSError:
        time.sleep(0.01)
"""


def machine_refusal():
    try:
        limits.check_machine()
    except limits.LimitsError as refused:
        return str(refused)
    return None


@pytest.mark.skipif(os.geteuid() != 0 or machine_refusal() is not None, reason="makes control groups: needs root")
def test_stopping_a_group_stops_its_persons_processes_even_while_they_fork_and_moves_out_anyone_elses():
    person = "nobody"
    parent_made = not (limits.CGROUP_ROOT / "memory" / limits.PARENT).exists()
    limits.prepare_group(person, limits.settings(2**30, None, 1024, 64))
    folders = limits.group_folders(person)
    as_person = ["setpriv", "--reuid", person, "--regid", grp.getgrgid(pwd.getpwnam(person).pw_gid).gr_name,
                 "--clear-groups"]
    churn = subprocess.Popen([*as_person, "/usr/bin/python3", "-c", FORKS_FOR_EVER],
                             preexec_fn=lambda: limits.enter_group(folders))   # as the hub starts a server
    roots = subprocess.Popen(["sleep", "100"], preexec_fn=lambda: limits.enter_group(folders))   # a sudo, say
    pids_folder = limits.CGROUP_ROOT / "pids" / limits.group_name(person)
    try:
        for _ in range(100):
            if len(limits.processes(pids_folder)) >= 10:
                break
            time.sleep(0.05)
        stopped = limits.stop_processes(person)
        assert churn.pid in stopped and roots.pid not in stopped and len(stopped) >= 10, stopped
        assert churn.wait(timeout=10) == -signal.SIGKILL
        assert roots.poll() is None, "someone else's process in the group was stopped"
        assert all(not limits.processes(folder) for folder in limits.group_folders(person))
        assert (pids_folder / "pids.max").read_text().strip() == "64", "the process limit was not put back"
    finally:
        roots.kill()
        churn.kill()
        limits.remove_group(person)
        if parent_made:
            remove_parent()


def remove_parent():
    """Remove the course's parent group unless another test's group is in it (that test removes it)."""
    for controller in limits.CONTROLLERS:
        try:
            limits.remove_folder(limits.CGROUP_ROOT / controller / limits.PARENT)
        except limits.LimitsError:
            pass
