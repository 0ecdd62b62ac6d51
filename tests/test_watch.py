"""The graded kernel's watch on files, called as Python's audit hook calls it
(the hook is not installed here: an audit hook cannot be removed again)."""

import os

import pytest

from dlcourse.host import submission, watch


@pytest.fixture
def hook(tmp_path):
    own, system = tmp_path / "own", tmp_path / "system"
    own.mkdir()
    system.mkdir()
    log = open(tmp_path / "grader.log", "a")
    yield watch.Watch([str(system)], [str(own)], log.fileno()), own, system, tmp_path / "grader.log"
    log.close()


def attempts(log):
    return watch.read_attempts(log.read_text())[0]


def test_own_folder_and_readable_folders_are_not_reported(hook):
    hook_, own, system, log = hook
    hook_("open", (str(own / "curve.png"), "w", os.O_WRONLY | os.O_CREAT))
    hook_("os.remove", (str(own / "old.csv"), -1))
    hook_("open", (str(system / "lib.py"), "r", 0))
    hook_("os.listdir", (str(system),))
    hook_("compile", (b"", "<cell>"))  # events it does not watch pass untouched
    assert attempts(log) == []


def test_reads_writes_and_removals_outside_are_reported_once_each(hook):
    hook_, own, system, log = hook
    outside = own.parent / "gradebook.db"
    hook_("open", (str(outside), "r", 0))
    hook_("open", (str(outside), "r", 0))
    hook_("open", (str(system / "lib.py"), None, os.O_RDWR))
    hook_("os.remove", (str(outside), -1))
    hook_("os.rename", (str(own / "a"), str(outside), -1, -1))
    assert [(a["action"], a["path"]) for a in attempts(log)] == [
        ("read", str(outside)), ("write", str(system / "lib.py")), ("change", str(outside))]


def test_a_link_out_of_its_folder_is_judged_by_where_it_leads(hook):
    hook_, own, system, log = hook
    (own / "trap").symlink_to(own.parent / "nbgrader_config.py")
    hook_("open", (str(own / "trap"), "w", os.O_WRONLY))
    hook_("os.symlink", (str(own.parent / "solutions"), str(own / "link"), -1))
    assert [a["path"] for a in attempts(log)] == [str(own / "trap"), str(own.parent / "solutions")]


def test_the_log_cannot_be_reopened_or_truncated(hook):
    hook_, own, system, log = hook
    with pytest.raises(PermissionError):
        hook_("open", ("/proc/self/fd/2", "w", os.O_WRONLY))
    with pytest.raises(PermissionError):
        hook_("os.truncate", (hook_.trace_fd, 0))
    reasons = [submission.describe_attempt(a, own.parent) for a in attempts(log)]
    assert reasons == ["tried to write /proc/self/fd/2, outside its own folder (refused)",
                       f"tried to truncate file descriptor {hook_.trace_fd} (the grader's log), outside its own "
                       "folder (refused)"]


def test_lines_that_are_not_the_watch_s_are_ignored():
    text = 'noise\n[dlcourse-watch] {"action": "read", "path": "/x", "refused": false}\n[dlcourse-watch] {broken\n'
    assert watch.read_attempts(text) == ([{"action": "read", "path": "/x", "refused": False}], 0)


def test_a_flood_of_forged_lines_is_reported_as_a_few_and_a_count():
    text = "".join(f'[dlcourse-watch] {{"action": "read", "path": "/x{n}", "refused": false}}\n' for n in range(50_000))
    reported, more = watch.read_attempts(text)
    assert len(reported) == watch.MAX_ATTEMPTS and more == 50_000 - watch.MAX_ATTEMPTS
