"""The late rule of the grade exports (dlcourse/host/term/lms.py)."""

import pytest

from dlcourse.host.term import instructor, lms
from dlcourse.host.course import Course, CourseError

DAY = 24 * 3600


def test_on_time_keeps_every_point():
    assert lms.apply_late_rule(12, 16, 0, 0.1) == lms.Grade(12, 16, 0, 0)
    assert lms.apply_late_rule(12, 16, -5 * DAY, 0.1).score == 12


@pytest.mark.parametrize("seconds, days", [(1, 1), (DAY, 1), (DAY + 1, 2), (3 * DAY, 3)])
def test_each_started_day_late_costs_the_fraction_of_the_points(seconds, days):
    grade = lms.apply_late_rule(16, 16, seconds, 0.1)
    assert grade.days_late == days
    assert grade.penalty == pytest.approx(1.6 * days) and grade.score == pytest.approx(16 - 1.6 * days)


def test_the_penalty_never_goes_below_zero_points():
    grade = lms.apply_late_rule(3, 16, 30 * DAY, 0.1)
    assert grade.score == 0 and grade.penalty == 3


def test_a_wrong_rule_is_refused_with_the_fix(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Course.late_penalty_per_day = 10\n")
    with pytest.raises(CourseError, match="c.Course.late_penalty_per_day wrongly.*Fix: The fraction from 0 to 1"):
        Course.at(tmp_path)


def test_the_exports_follow_the_roster_and_report_who_is_missing(tmp_path, monkeypatch):
    """A real gradebook: one student on time, one two days late, one on the
    roster with nothing submitted, and one graded student not on the roster."""
    import csv
    from datetime import datetime, timedelta, timezone

    from nbgrader.api import Gradebook

    from dlcourse.host.term import hub
    from dlcourse.host.nbgrader_process import nbgrader_environment

    monkeypatch.setenv("PATH", nbgrader_environment()["PATH"])  # a new gradebook runs nbgrader's alembic
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'keras-ffnn'\nc.Course.late_penalty_per_day = 0.25\n")
    due = datetime(2027, 1, 11, 23, 59, tzinfo=timezone.utc)
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", "keras-ffnn") as gradebook:
        gradebook.add_assignment("a1", duedate=due)
        for student in ("ann", "ben", "zoe"):
            gradebook.add_student(student)
        gradebook.add_submission("a1", "ann", timestamp=due - timedelta(hours=1))
        gradebook.add_submission("a1", "ben", timestamp=due + timedelta(days=1, hours=2))
        gradebook.add_submission("a1", "zoe", timestamp=due)
    people = [hub.Person("prof", "Pat Prof", "", "instructor"), hub.Person("ann", "Ann Lee", "1", "student"),
              hub.Person("ben", "Ben Ode", "2", "student"), hub.Person("cy", "Cy Young", "3", "student")]
    grades_by_student, problems = lms.collect(tmp_path, people)
    assert grades_by_student["ben"]["a1"].days_late == 2 and grades_by_student["ann"]["a1"].days_late == 0
    assert grades_by_student["cy"]["a1"] is None
    assert any(p.startswith("cy (3) has no submission of a1") for p in problems), problems
    assert any(p.startswith("zoe submitted a1 but is not on the roster") for p in problems), problems
    paths, _ = lms.export(tmp_path, people, tmp_path / "out")
    with open(paths[0], newline="") as handle:
        canvas = list(csv.DictReader(handle))
    assert [row["SIS User ID"] for row in canvas[1:]] == ["1", "2", "3"], "staff or strangers in the Canvas file"
    with open(paths[1], newline="") as handle:
        moodle = list(csv.DictReader(handle))
    assert moodle[1]["a1 feedback"].startswith("Late by 2 day(s)") and moodle[0]["a1 feedback"] == ""


def test_an_answer_still_to_be_graded_by_hand_is_never_exported_as_zero(tmp_path, monkeypatch):
    """A real gradebook where ann's written answer is graded and ben's is not:
    ben's cell stays empty in every export, with the reason, and the command
    says how many remain. Every file it writes is closed to other users."""
    import csv
    import subprocess
    import sys
    from datetime import datetime, timezone

    from nbgrader.api import Gradebook

    from dlcourse.host.term import hub
    from dlcourse.host.nbgrader_process import nbgrader_environment

    monkeypatch.setenv("PATH", nbgrader_environment()["PATH"])
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'keras-ffnn'\n"
        "c.ExportApp.plugin_class = 'dlcourse.host.term.lms.CsvExport'\n")
    due = datetime(2027, 1, 11, 23, 59, tzinfo=timezone.utc)
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", "keras-ffnn") as gradebook:
        gradebook.add_assignment("a1", duedate=due)
        gradebook.add_notebook("a1", "a1")
        gradebook.add_grade_cell("written", "a1", "a1", max_score=2, cell_type="markdown")
        for student in ("ann", "ben"):
            gradebook.add_student(student)
            gradebook.add_submission("a1", student, timestamp=due)
        grade = gradebook.find_grade("written", "a1", "a1", "ann")
        grade.manual_score, grade.needs_manual_grade = 2, False
        gradebook.db.commit()
    roster = tmp_path / "roster.csv"
    roster.write_text("username,full_name,student_id,role\nann,Ann Lee,1,student\nben,Ben Ode,2,student\n")
    done = subprocess.run([sys.executable, "-m", "dlcourse", "export", "--course", str(tmp_path), "--to",
                           str(tmp_path / "build" / "grades.csv"), "--roster", str(roster)],
                          capture_output=True, text=True, env=nbgrader_environment())
    assert done.returncode == 0, done.stderr
    assert "1 submission(s) still have answers to be graded by hand" in done.stdout and "ben (a1)" in done.stdout
    assert "ben (2) has answers of a1 still to be graded by hand" in done.stdout, done.stdout
    files = {p.name: p for p in (tmp_path / "build").iterdir()}
    assert set(files) == {"grades.csv", "grades-canvas.csv", "grades-moodle.csv"}
    for path in files.values():
        assert path.stat().st_mode & 0o777 == lms.GRADES_FILE_MODE, f"{path.name} is open to other users"
    rows = {}
    for name, key in (("grades.csv", "student_id"), ("grades-canvas.csv", "SIS Login ID"),
                      ("grades-moodle.csv", "Username")):
        with open(files[name], newline="") as handle:
            rows[name] = {row[key]: row for row in csv.DictReader(handle)}
    assert rows["grades.csv"]["ann"]["score"] == "2.0" and rows["grades.csv"]["ben"]["score"] == ""
    assert rows["grades.csv"]["ben"]["needs_manual_grade"] == "True"
    assert rows["grades-canvas.csv"]["ann"]["a1"] == "2" and rows["grades-canvas.csv"]["ben"]["a1"] == ""
    assert rows["grades-moodle.csv"]["ben"]["a1"] == ""
    assert rows["grades-moodle.csv"]["ben"]["a1 feedback"].startswith("Not graded yet")
