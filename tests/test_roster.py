"""The hub's roster (dlcourse/host/term/hub.py): read as written, refused with the line and the fix."""

import pytest

from conftest import ROOT
from dlcourse.host.term import hub

HEADER = ",".join(hub.ROSTER_COLUMNS)


def roster(tmp_path, *rows):
    path = tmp_path / "roster.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_the_example_roster_reads_as_written():
    people = hub.read_roster(ROOT / "hub" / "roster.example.csv")
    assert [p.role for p in people] == ["instructor", "ta", "student", "student"]
    assert [p.staff for p in people] == [True, True, False, False]
    assert people[2] == hub.Person("alice", "Alice Martin", "20260001", "student")


@pytest.mark.parametrize("row, message", [
    ("Alice,Alice Martin,1,student", "cannot be a Unix user name"),
    ("alice,Alice Martin,1,professor", "role 'professor'"),
])
def test_a_bad_row_names_its_line_and_the_fix(tmp_path, row, message):
    with pytest.raises(hub.HubError, match=f"line 3: .*{message}.*Fix"):
        hub.read_roster(roster(tmp_path, "bob,Bob Dupont,2,student", row))


def test_a_repeated_student_id_is_refused(tmp_path):
    with pytest.raises(hub.HubError, match="student_id '7' is also on line 2"):
        hub.read_roster(roster(tmp_path, "ann,Ann A,7,student", "ben,Ben B,7,student"))


def test_a_missing_column_or_file_says_what_to_write(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("username,full_name\nann,Ann A\n")
    with pytest.raises(hub.HubError, match="missing student_id, role"):
        hub.read_roster(path)
    with pytest.raises(hub.HubError, match="No roster at"):
        hub.read_roster(tmp_path / "nowhere.csv")


def test_setup_refuses_to_run_without_root(tmp_path, monkeypatch):
    monkeypatch.setattr(hub.os, "geteuid", lambda: 1000)
    with pytest.raises(hub.HubError, match="needs root. Fix: sudo make hub"):
        hub.setup(ROOT, ROOT / "hub" / "roster.example.csv", tmp_path)


def test_a_python_closed_to_other_users_is_refused_with_the_fix(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    (closed / "python").write_text("")
    with pytest.raises(hub.HubError, match="Students cannot reach the course's Python .* is closed to other users. "
                                           "Fix: rebuild"):
        hub.check_open_to_all(closed / "python", "the course's Python", "rebuild")
    hub.check_open_to_all("/usr/bin/env", "env", "none needed")  # open all the way


def test_every_bad_row_is_named_at_once_with_its_fix(tmp_path):
    """A missing field, a colon in a full name (useradd refuses it), too many
    fields and a repeated name: one run lists them all, by line."""
    path = roster(tmp_path, "ann,Ann A,1,student", "ben,,2,student", "cy,Cy: The Third,3,student",
                  "dee,Dee D,4,student,extra", "ann,Ann Again,5,student")
    with pytest.raises(hub.HubError) as raised:
        hub.read_roster(path)
    message = str(raised.value)
    assert "4 bad row(s); nothing was changed" in message, message
    assert "line 3: no full_name. Fix: fill in full_name" in message
    assert "line 4: the full name 'Cy: The Third' has a character" in message
    assert "line 5: 5 fields. Fix: exactly 4" in message
    assert "line 6: username 'ann' is also on line 2" in message


def test_a_roster_that_is_not_text_says_so(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes(b"username,full_name,student_id,role\n\xff\xfe,\x00\n")
    with pytest.raises(hub.HubError, match="not a CSV file in UTF-8.*Fix: save it as CSV, UTF-8"):
        hub.read_roster(path)


def test_a_system_account_in_the_roster_is_refused_before_anything_changes(tmp_path):
    people = hub.read_roster(roster(tmp_path, "ann,Ann A,1,student", "root,Root,2,student"))
    with pytest.raises(hub.HubError, match=r"line 3: 'root' is a system account on this machine \(uid 0\)"):
        hub.check_accounts(people, "roster.csv")
