"""The graded kernel's watch on files, called as Python's audit hook calls it
(the hook is not installed here: an audit hook cannot be removed again)."""

import os
import subprocess
import sys

import pytest

from dlcourse.host.grading import submission, watch


@pytest.fixture
def hook(tmp_path):
    own, system = tmp_path / "own", tmp_path / "system"
    own.mkdir()
    system.mkdir()
    reports = watch.Reports(tmp_path / "watch")
    yield watch.Watch([str(system)], [str(own)], str(reports.path)), own, system, reports
    reports.collect()


def attempts(reports):
    return reports.collect()[0]


def test_own_folder_and_readable_folders_are_not_reported(hook):
    hook_, own, system, reports = hook
    hook_("open", (str(own / "curve.png"), "w", os.O_WRONLY | os.O_CREAT))
    hook_("os.remove", (str(own / "old.csv"), -1))
    hook_("open", (str(system / "lib.py"), "r", 0))
    hook_("os.listdir", (str(system),))
    hook_("compile", (b"", "<cell>"))  # events it does not watch pass untouched
    assert attempts(reports) == []


def test_reads_writes_and_removals_outside_are_reported_once_each(hook):
    hook_, own, system, reports = hook
    outside = own.parent / "gradebook.db"
    hook_("open", (str(outside), "r", 0))
    hook_("open", (str(outside), "r", 0))
    hook_("open", (str(system / "lib.py"), None, os.O_RDWR))
    hook_("os.remove", (str(outside), -1))
    hook_("os.rename", (str(own / "a"), str(outside), -1, -1))
    assert [(a["action"], a["path"]) for a in attempts(reports)] == [
        ("read", str(outside)), ("write", str(system / "lib.py")), ("change", str(outside))]


def test_a_link_out_of_its_folder_is_judged_by_where_it_leads(hook):
    hook_, own, system, reports = hook
    (own / "trap").symlink_to(own.parent / "nbgrader_config.py")
    hook_("open", (str(own / "trap"), "w", os.O_WRONLY))
    hook_("os.symlink", (str(own.parent / "solutions"), str(own / "link"), -1))
    assert [a["path"] for a in attempts(reports)] == [str(own / "trap"), str(own.parent / "solutions")]


def test_open_files_cannot_be_reached_through_proc(hook):
    hook_, own, system, reports = hook
    with pytest.raises(PermissionError):
        hook_("open", ("/proc/self/fd/2", "w", os.O_WRONLY))
    reasons = [submission.describe_attempt(a, own.parent) for a in attempts(reports)]
    assert reasons == ["tried to write /proc/self/fd/2, outside its own folder (refused)"]


def test_messages_that_are_not_the_watch_s_are_counted_as_forged():
    messages = ["noise", '[dlcourse-watch] {"action": "read", "path": "/x", "refused": false}',
                "[dlcourse-watch] {broken", '[dlcourse-watch] {"action": "read"}']
    assert watch.read_attempts(messages) == ([{"action": "read", "path": "/x", "refused": False}], 0, 3)


def test_a_flood_sent_to_the_grader_s_socket_is_reported_as_a_few_and_a_count(tmp_path):
    reports = watch.Reports(tmp_path / "watch")
    flood = ("import socket\nfor n in range(50_000):\n    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto("
             "b'[dlcourse-watch] {\"action\": \"read\", \"path\": \"/x%d\", \"refused\": false}' % n, "
             f"{str(reports.path)!r})")
    subprocess.run([sys.executable, "-c", flood], check=True, timeout=300)
    reported, more, forged = reports.collect()
    assert len(reported) == watch.MAX_ATTEMPTS and more == 50_000 - watch.MAX_ATTEMPTS and forged == 0


def test_the_kernel_holds_no_descriptor_of_the_grader_s(hook):
    hook_, own, system, reports = hook
    before = set(os.listdir("/proc/self/fd"))
    hook_("open", (str(own.parent / "gradebook.db"), "r", 0))
    assert set(os.listdir("/proc/self/fd")) == before, "a report left a descriptor open"
    assert [a["path"] for a in attempts(reports)] == [str(own.parent / "gradebook.db")]


def test_crafted_messages_are_counted_as_forged_never_read():
    mark = watch.MARK
    crafted = [mark + '{"action": [], "path": "x", "refused": false}', mark + "[" * 100_000,
               mark + '{"action": "read", "path": 7, "refused": false}', b"\xff\xfe" + mark.encode(),
               mark + '{"action": "read", "path": "/x", "refused": false}' + " " * watch.MAX_MESSAGE_BYTES]
    assert watch.read_attempts(crafted) == ([], 0, len(crafted))


def test_an_attempt_the_watch_cannot_report_is_refused(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    hook_ = watch.Watch([], [str(own)], str(tmp_path / "no-such-socket"))
    hook_("open", (str(own / "mine.txt"), "w", os.O_WRONLY))   # its own folder needs no report
    with pytest.raises(PermissionError, match="cannot report"):
        hook_("os.remove", (str(tmp_path / "gradebook.db"), -1))
