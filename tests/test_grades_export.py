"""The late rule of the grade exports (dlcourse/host/grades.py)."""

import pytest

from conftest import ROOT
from dlcourse.host import grades, instructor

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
    assert grades.late_penalty_per_day(ROOT) == instructor.course_config(ROOT).Course.late_penalty_per_day


def test_a_wrong_rule_is_refused_with_the_fix(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Course.late_penalty_per_day = 10\n")
    with pytest.raises(instructor.CourseError, match="from 0 to 1"):
        grades.late_penalty_per_day(tmp_path)
