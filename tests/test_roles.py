"""Roles on a hub's course, without a hub: what the staff may write, how root
hands the course over without following a link, and what root refuses.

The hub itself, with a TA's real Unix account, is tests/test_hub.py."""

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ROOT
from dlcourse.host import cli
from dlcourse.host.term import hub
from dlcourse.host.course import CONFIG_FILE, Course

GRADEBOOK_IN_ITS_FOLDER = ("c.CourseDirectory.db_url = 'sqlite:///' + c.CourseDirectory.root "
                           "+ '/gradebook/gradebook.db'\n")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changes owners and switches accounts: needs root")


def course_with(tmp_path, extra=""):
    course = tmp_path / "course"
    course.mkdir()
    (course / CONFIG_FILE).write_text("c = get_config()\nc.CourseDirectory.source_directory = 'solutions'\n"
                                      f"c.CourseDirectory.root = {str(course)!r}\n{extra}")
    return Course.at(course)


def test_the_staff_write_nbgraders_folders_the_gradebooks_and_the_exports_each_directly_in_the_course():
    layout = Course.at(ROOT)
    folders = hub.staff_folders(layout)
    assert all(folder.parent == layout.root for folder in folders), folders
    assert {layout.source().resolve(), layout.release().resolve(), layout.gradebook_path.parent,
            layout.root / hub.EXPORTS} <= set(folders)
    assert layout.root / "hub" not in folders and layout.root / "dlcourse" not in folders


def test_a_gradebook_directly_in_the_course_is_refused_with_the_fix(tmp_path):
    layout = course_with(tmp_path)   # nbgrader's default: <course>/gradebook.db
    with pytest.raises(hub.HubError, match=r"directly in the course.*gradebook/gradebook.db"):
        hub.staff_folders(layout)


def test_a_gradebook_left_at_the_top_moves_into_its_folder(tmp_path):
    layout = course_with(tmp_path, GRADEBOOK_IN_ITS_FOLDER)
    (layout.root / "gradebook.db").write_bytes(b"grades")
    hub.move_old_gradebook(layout)
    assert layout.gradebook_path.read_bytes() == b"grades" and not (layout.root / "gradebook.db").exists()


def test_roots_files_lose_write_and_set_id_bits_and_the_staffs_folders_pass_on_their_group():
    assert hub.roots_mode(0o4777, False) == 0o750
    assert hub.roots_mode(0o700, True) == 0o750
    assert hub.student_readable_mode(0o777, True) == 0o755
    assert hub.staff_mode(0o700, True) == 0o2770
    assert hub.staff_mode(0o4755, False) == 0o770


def test_settling_a_tree_never_follows_a_link(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not the course's")
    outside.chmod(0o600)
    tree = tmp_path / "tree"
    (tree / "deep").mkdir(parents=True)
    (tree / "deep" / "file").write_text("x")
    (tree / "deep" / "file").chmod(0o4777)
    (tree / "link").symlink_to(outside)
    (tree / "folder-link").symlink_to(tmp_path)
    tmp_path.chmod(0o701)
    hub.settle_tree(tree, -1, os.getgid(), hub.roots_mode)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o701
    assert stat.S_IMODE((tree / "deep" / "file").stat().st_mode) == 0o750
    assert stat.S_IMODE((tree / "deep").stat().st_mode) == 0o750


def test_root_is_refused_a_staff_command_on_a_hubs_course(tmp_path, monkeypatch):
    layout = course_with(tmp_path)
    monkeypatch.setattr(hub.grp, "getgrnam", lambda name: SimpleNamespace(gr_gid=layout.root.stat().st_gid))
    monkeypatch.setattr(hub.os, "geteuid", lambda: 0)
    with pytest.raises(SystemExit, match="never as root.*sudo -u"):
        cli.main(["export", "--course", str(layout.root), "--to", str(tmp_path / "grades.csv")])
    monkeypatch.setattr(cli.os, "execv", lambda *argv: pytest.fail(f"root ran {argv} on a hub's course"))
    with pytest.raises(SystemExit, match="never as root"):   # make lab: root would run the staff's notebooks
        cli.main(["lab", "--course", str(layout.root)])
    monkeypatch.setattr(hub.os, "geteuid", lambda: 1000)
    hub.refuse_root(layout)   # a member of the staff goes on


@pytest.fixture
def open_folder():
    """A folder every account can pass through (pytest's own are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="dlcourse-roles-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def setup_account():
    """The account make hub writes as (made for the test if missing, and removed after)."""
    made = hub.UNPRIVILEGED not in {p.pw_name for p in pwd.getpwall()}
    hub.ensure_system_account(hub.UNPRIVILEGED)
    yield pwd.getpwnam(hub.UNPRIVILEGED)
    if made:
        subprocess.run(["userdel", hub.UNPRIVILEGED], check=True)


@needs_root
def test_a_function_run_as_an_account_writes_as_it_and_its_error_is_named(open_folder, setup_account):
    tmp_path = open_folder
    account = setup_account
    staff_gid = os.getgid()
    out = tmp_path / "out"
    out.mkdir()
    shutil.chown(out, account.pw_uid)
    hub.as_account(hub.UNPRIVILEGED, staff_gid, 0o027, (out / "made").write_text, "by the set-up's account")
    made = (out / "made").stat()
    assert (made.st_uid, made.st_gid, stat.S_IMODE(made.st_mode)) == (account.pw_uid, staff_gid, 0o640)
    secret = tmp_path / "secret"
    secret.write_text("root's")
    secret.chmod(0o600)
    with pytest.raises(hub.HubError, match=rf"as {hub.UNPRIVILEGED}, failed: PermissionError.*secret"):
        hub.as_account(hub.UNPRIVILEGED, staff_gid, 0o022, secret.read_text)


def test_a_link_in_roots_part_of_the_course_to_where_others_write_is_refused_before_anything_changes(tmp_path):
    layout = course_with(tmp_path, GRADEBOOK_IN_ITS_FOLDER)
    writable = hub.staff_folders(layout)
    (layout.root / "hub").mkdir()
    (layout.root / "solutions").mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (layout.root / "hub" / "python").symlink_to("/usr/bin/env")                    # root's: followed safely
    (layout.root / "solutions" / "data").symlink_to(shared)                       # the staff's own folder
    hub.check_links(layout, writable)
    (layout.root / "hub" / "jupyterhub_config.py").symlink_to(shared / "evil.py")  # where anyone writes
    (layout.root / "Makefile").symlink_to(layout.root / "solutions" / "Makefile")   # where the staff write
    with pytest.raises(hub.HubError, match=r"^2 link\(s\)") as refused:
        hub.check_links(layout, writable)
    named = str(refused.value)
    assert f"{layout.root / 'Makefile'} ->" in named and f"{layout.root / 'hub' / 'jupyterhub_config.py'} ->" in named
    assert "python ->" not in named and "data ->" not in named, named


def test_a_link_where_a_hub_folder_should_be_is_refused_and_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / "outbound").symlink_to(target)
    with pytest.raises(hub.HubError, match=r"outbound should be a folder of the hub's, but it is a link.*sudo rm"):
        hub.make_folder(tmp_path / "outbound", 0o2775, os.getgid(), os.getuid())
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


@needs_root
def test_a_roster_where_the_staff_write_is_refused_before_it_is_read(tmp_path):
    """Where the roster lies decides whether root may trust it, so it is
    checked first: a file in a staff folder is never read, whatever it holds."""
    layout = course_with(tmp_path, GRADEBOOK_IN_ITS_FOLDER)
    (layout.root / "solutions").mkdir()
    roster = layout.root / "solutions" / "roster.csv"
    roster.write_text("not a roster\n")
    with pytest.raises(hub.HubError, match="is in a folder the staff write") as refused:
        hub.setup(layout.root, roster, tmp_path / "hub")
    assert "column" not in str(refused.value), refused.value
    assert not (tmp_path / "hub").exists(), "the hub's folder was made before the roster was refused"
