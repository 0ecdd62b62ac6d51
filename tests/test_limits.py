"""Each person's share of the hub (dlcourse/host/limits.py) and the kernel's
notice when the memory limit stopped the last kernel (dlcourse/memory_notice.py).
The real groups, the real stop and the real notice are in test_hub.py."""

import json

import pytest

from dlcourse import memory_notice
from dlcourse.host import limits


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
