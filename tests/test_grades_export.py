"""The late rule of the grade exports (dlcourse/host/grades.py)."""

import pytest

from conftest import ROOT
from dlcourse.host import grades, instructor
from dlcourse.host.course import Course

DAY = 24 * 3600


def test_on_time_keeps_every_point():
    assert grades.apply_late_rule(12, 16, 0, 0.1) == grades.Grade(12, 16, 0, 0)
    assert grades.apply_late_rule(12, 16, -5 * DAY, 0.1).score == 12


@pytest.mark.parametrize("seconds, days", [(1, 1), (DAY, 1), (DAY + 1, 2), (3 * DAY, 3)])
def test_each_started_day_late_costs_the_fraction_of_the_points(seconds, days):
    grade = grades.apply_late_rule(16, 16, seconds, 0.1)
    assert grade.days_late == days
    assert grade.penalty == pytest.approx(1.6 * days) and grade.score == pytest.approx(16 - 1.6 * days)


def test_the_penalty_never_goes_below_zero_points():
    grade = grades.apply_late_rule(3, 16, 30 * DAY, 0.1)
    assert grade.score == 0 and grade.penalty == 3


def test_the_course_sets_its_rule_in_nbgrader_config():
    assert grades.late_penalty_per_day(ROOT) == Course.at(ROOT).config.Course.late_penalty_per_day


def test_a_wrong_rule_is_refused_with_the_fix(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Course.late_penalty_per_day = 10\n")
    with pytest.raises(instructor.CourseError, match="from 0 to 1"):
        grades.late_penalty_per_day(tmp_path)


def test_the_exports_follow_the_roster_and_report_who_is_missing(tmp_path, monkeypatch):
    """A real gradebook: one student on time, one two days late, one on the
    roster with nothing submitted, and one graded student not on the roster."""
    import csv
    from datetime import datetime, timedelta, timezone

    from nbgrader.api import Gradebook

    from dlcourse.host import hub
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
    grades_by_student, problems = grades.collect(tmp_path, people)
    assert grades_by_student["ben"]["a1"].days_late == 2 and grades_by_student["ann"]["a1"].days_late == 0
    assert grades_by_student["cy"]["a1"] is None
    assert any(p.startswith("cy (3) has no submission of a1") for p in problems), problems
    assert any(p.startswith("zoe submitted a1 but is not on the roster") for p in problems), problems
    paths, _ = grades.export(tmp_path, people, tmp_path / "out")
    with open(paths[0], newline="") as handle:
        canvas = list(csv.DictReader(handle))
    assert [row["SIS User ID"] for row in canvas[1:]] == ["1", "2", "3"], "staff or strangers in the Canvas file"
    with open(paths[1], newline="") as handle:
        moodle = list(csv.DictReader(handle))
    assert moodle[1]["a1 feedback"].startswith("Late by 2 day(s)") and moodle[0]["a1 feedback"] == ""
