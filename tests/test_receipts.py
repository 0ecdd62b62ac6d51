"""The exchange's receipts and collect's verdicts, as the current user.

A real exchange folder, real receipts and nbgrader's own ``collect`` with
the course's Collect class; the hub's tests (tests/test_hub.py) do the same
as several Unix users, with the receipt service the hub runs.
"""

import json
import os
import pwd
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.utils import parse_utc

from dlcourse.host.extensions import exchange, receipts
from dlcourse.host.nbgrader_process import nbgrader_environment

ME = pwd.getpwuid(os.getuid()).pw_name
COURSE_ID = "course101"
A1 = "a1"


def submit(inbound, student, name_time, notebook_text="x = 1", forged_time=None):
    """Write a submission folder as nbgrader's submit does, with the time the
    student chose in its name and timestamp.txt; return its path."""
    folder = inbound / f"{student}+{A1}+{name_time}+{os.urandom(4).hex()}"
    folder.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(notebook_text)])
    nbformat.write(notebook, folder / f"{A1}.ipynb")
    (folder / "timestamp.txt").write_text(forged_time or name_time)
    return folder


@pytest.fixture
def exchange_folders(tmp_path):
    course_exchange = tmp_path / "exchange" / COURSE_ID
    for name in ("inbound", receipts.RECEIPTS, "outbound", "feedback"):
        (course_exchange / name).mkdir(parents=True)
    return course_exchange


def settled(course_exchange):
    """Write the receipts as the service would, once everything has settled."""
    return receipts.write_receipts(course_exchange / "inbound", course_exchange / receipts.RECEIPTS, log=lambda _: None,
                                   now=time.time() + receipts.SETTLE_SECONDS + 1)


def test_a_receipt_waits_for_a_folder_to_settle_and_is_never_rewritten(exchange_folders):
    folder = submit(exchange_folders / "inbound", ME, "2026-01-01 00:00:00 UTC")
    assert receipts.write_receipts(exchange_folders / "inbound", exchange_folders / receipts.RECEIPTS,
                                   log=lambda _: None) == [], "a folder still being written got its receipt"
    [receipt] = settled(exchange_folders)
    assert receipt["owner"] == ME and receipt["files"] == 2 and len(receipt["sha256"]) == 64
    received = datetime.fromisoformat(receipt["received"])
    assert abs(received.timestamp() - time.time()) < 60, "the receipt's time is not the kernel's"
    (folder / f"{A1}.ipynb").write_text("{}")
    assert settled(exchange_folders) == [], "a receipt was written again"
    assert oct(os.stat(exchange_folders / receipts.RECEIPTS / f"{folder.name}.json").st_mode & 0o777) == "0o640"


def test_the_hash_follows_contents_not_modes_and_never_a_link_or_a_pipe(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "a.ipynb").write_text("one")
    first = receipts.tree_state(folder)
    os.chmod(folder / "a.ipynb", 0o600)
    assert receipts.tree_state(folder).sha256 == first.sha256, "a change of mode changed the hash"
    (folder / "a.ipynb").write_text("two")
    assert receipts.tree_state(folder).sha256 != first.sha256, "a change of content kept the hash"
    (folder / "secret").symlink_to("/etc/passwd")
    os.mkfifo(folder / "pipe")
    state = receipts.tree_state(folder)   # returns: neither follows the link nor waits on the pipe
    assert state.files == 3 and state.bytes == 3


def test_a_forged_time_is_replaced_by_the_receipts_and_a_late_edit_is_held(exchange_folders):
    forged = "2020-01-01 00:00:00.000000 UTC"
    folder = submit(exchange_folders / "inbound", ME, forged)
    settled(exchange_folders)
    found = receipts.verdict(folder, ME, exchange_folders / receipts.RECEIPTS)
    assert not found.refused and not found.held
    assert found.submitted > parse_utc(forged) + timedelta(days=365), "the student's own time was believed"
    os.utime(folder / f"{A1}.ipynb", (0, 0))   # an mtime set back does not help
    (folder / f"{A1}.ipynb").write_text("{}")
    later = receipts.verdict(folder, ME, exchange_folders / receipts.RECEIPTS)
    assert later.held and "changed in the exchange after its receipt" in later.held[0], later
    assert later.submitted >= found.submitted


def test_a_submission_named_as_another_student_is_refused(exchange_folders):
    folder = submit(exchange_folders / "inbound", "classmate", "2026-01-01 00:00:00 UTC")
    settled(exchange_folders)
    found = receipts.verdict(folder, "classmate", exchange_folders / receipts.RECEIPTS)
    assert found.impostor == ME and f"made by {ME}" in found.refused


def test_no_receipt_is_held_with_the_last_change_as_its_time(exchange_folders):
    folder = submit(exchange_folders / "inbound", ME, "2020-01-01 00:00:00 UTC")
    old = time.time() - 3600
    os.utime(folder, (old, old))
    found = receipts.verdict(folder, ME, exchange_folders / receipts.RECEIPTS)   # waits: it arrived just now
    assert found.held and "no receipt" in found.held[0]
    assert abs(found.submitted - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(minutes=5)


def collect(course, course_exchange, update=True):
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", "collect", A1, f"--CourseDirectory.root={course}",
         f"--CourseDirectory.course_id={COURSE_ID}", f"--Exchange.root={course_exchange.parent}",
         f"--ExchangeFactory.collect={exchange.FACTORY['collect']}", *(["--update"] if update else [])],
        capture_output=True, text=True, cwd=course, env=nbgrader_environment())


def test_collect_takes_the_receipts_time_and_owner_and_reports_the_rest(tmp_path, exchange_folders, monkeypatch):
    monkeypatch.setenv("PATH", nbgrader_environment()["PATH"])   # nbgrader makes the gradebook with alembic
    course = tmp_path / "course"
    course.mkdir()
    due = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=1)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gradebook:
        gradebook.add_assignment(A1, duedate=due)
    inbound = exchange_folders / "inbound"
    # Submitted now (after the due date), named and timed as if three hours before it.
    submit(inbound, ME, "2020-01-01 00:00:00.000000 UTC", forged_time=str(due - timedelta(hours=3)))
    forged = submit(inbound, "classmate", "2030-01-01 00:00:00.000000 UTC", notebook_text="sabotage()")
    settled(exchange_folders)
    done = collect(course, exchange_folders)
    assert done.returncode == 0, done.stdout + done.stderr
    stamp = parse_utc((course / "submitted" / ME / A1 / "timestamp.txt").read_text())
    assert stamp > due, f"collected as on time ({stamp}, due {due}): the forged time was believed"
    assert not (course / "submitted" / ME / receipts.HELD.format(assignment=A1)).exists()
    assert not (course / "submitted" / "classmate" / A1).exists(), "collected as the classmate's work"
    note = (course / "submitted" / "classmate" / exchange.NOT_COLLECTED.format(assignment=A1)).read_text()
    assert f"{forged.name} was not collected: it is named as classmate's but was made by {ME}" in note
    assert f"made by {ME}" in done.stderr, "the instructor was not told"
    # An edit in the exchange after the receipt: collected again, held, with the later time.
    mine = next(inbound.glob(f"{ME}+*"))
    (mine / f"{A1}.ipynb").write_text(json.dumps(nbformat.v4.new_notebook()))
    done = collect(course, exchange_folders)
    assert done.returncode == 0, done.stdout + done.stderr
    held = course / "submitted" / ME / receipts.HELD.format(assignment=A1)
    assert "changed in the exchange after its receipt" in json.loads(held.read_text())["reasons"][0]
    assert receipts.held_reasons(course / "submitted" / ME / A1), "grading would not see the hold"
    edited = (course / "submitted" / ME / A1 / "timestamp.txt").read_text()
    assert parse_utc(edited) >= stamp
    # Without --update, nbgrader keeps what it collected: so do its time and its hold.
    submit(inbound, ME, "2020-01-02 00:00:00.000000 UTC", notebook_text="y = 2")
    settled(exchange_folders)
    assert collect(course, exchange_folders, update=False).returncode == 0
    assert (course / "submitted" / ME / A1 / "timestamp.txt").read_text() == edited
    assert held.exists()
