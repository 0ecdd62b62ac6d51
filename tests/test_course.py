"""The course model: folders, gradebook and limits come from nbgrader_config.py."""

import shutil
import subprocess

import nbformat
import pytest
from nbgrader.validator import Validator
from traitlets.config.loader import PyFileConfigLoader

from conftest import ROOT
from dlcourse.host.grading import whole_class
from dlcourse.host.term import edition, instructor
from dlcourse.host.cli import main
from dlcourse.host.course import Course, CourseError
from dlcourse.host.grading.submission import Limits
from submissions import cell_scores, expected_scores, fill, new_course, solution_code, submit

A3 = "a3_regression"


def renamed_course(path):
    """A course whose nbgrader_config.py renames every folder nbgrader knows and moves the gradebook."""
    path.mkdir()
    shutil.copytree(ROOT / "solutions", path / "sources")
    config = (ROOT / "nbgrader_config.py").read_text().replace('"solutions"', '"sources"')
    config += ('\nc.CourseDirectory.release_directory = "student_versions"\n'
               'c.CourseDirectory.submitted_directory = "inbox"\n'
               'c.CourseDirectory.autograded_directory = "graded"\n'
               'c.CourseDirectory.feedback_directory = "returned"\n'
               f'c.CourseDirectory.db_url = "sqlite:///{path}/grades.sqlite"\n')
    (path / "nbgrader_config.py").write_text(config)
    return Course.at(path)


def test_every_folder_and_the_gradebook_follow_the_configuration(tmp_path):
    course = renamed_course(tmp_path / "course")
    assert course.source("a1") == course.root / "sources" / "a1"
    assert course.release("a1") == course.root / "student_versions" / "a1"
    assert course.submitted("ana", "a1") == course.root / "inbox" / "ana" / "a1"
    assert course.autograded("ana", "a1") == course.root / "graded" / "ana" / "a1"
    assert course.feedback("ana", "a1") == course.root / "returned" / "ana" / "a1"
    assert course.gradebook_path == course.root / "grades.sqlite"
    assert course.assignments() == Course.at(ROOT).assignments()


def test_release_and_grading_use_the_renamed_folders(tmp_path):
    course = renamed_course(tmp_path / "course")
    assignment = "a3_regression"
    instructor.release(course.root)
    assert (course.release(assignment) / f"{assignment}.ipynb").is_file()
    assert course.gradebook_path.is_file() and not (course.root / "gradebook.db").exists()
    folder = course.submitted("ana", assignment)
    folder.mkdir(parents=True)
    shutil.copy(course.release(assignment) / f"{assignment}.ipynb", folder)
    [job] = whole_class.make_jobs(course.root, assignment, ["ana"], Limits().for_course(course))
    assert f"{assignment}.ipynb" in job.submission and f"{assignment}.ipynb" in job.release


def test_a_folder_without_configuration_is_refused_with_the_fix(tmp_path):
    with pytest.raises(CourseError, match="no nbgrader_config.py.*--course"):
        Course.at(tmp_path)


def test_the_limits_live_in_the_configuration_and_the_command_line_overrides_them():
    course = Course.at(ROOT)
    limits = Limits().for_course(course)
    assert limits.cell_seconds == course.config.Execute.timeout  # the cell limit Validate uses too
    assert limits.wall_seconds == course.config.Course.submission_seconds
    assert limits.memory_mb == course.config.Course.submission_memory_mb
    assert Limits(cell_seconds=7).for_course(course).cell_seconds == 7


def test_a_missing_limit_is_named(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 300\n")
    with pytest.raises(CourseError, match="memory_mb"):
        Limits().for_course(Course.at(tmp_path))


def test_the_students_configuration_is_a_file_the_instructors_loads():
    students = PyFileConfigLoader(edition.STUDENT_CONFIG.name, path=str(edition.STUDENT_CONFIG.parent)).load_config()
    instructors = Course.at(ROOT).config
    for section in ("Execute", "IgnorePattern", "OverwriteCells"):
        assert dict(students[section]) == dict(instructors[section]), section
    assert students.CourseDirectory.course_id == instructors.CourseDirectory.course_id
    assert "due_dates" not in students.Course and "submission_seconds" not in students.Course


@pytest.mark.slow
def test_a_fourth_assignment_is_its_folder_and_its_due_date(tmp_path, monkeypatch):
    """Assignment 3 copied under a new name: release, Validate and grading take
    it with nothing else changed but its due date in nbgrader_config.py."""
    course = new_course(tmp_path / "course")
    layout, new = Course.at(course), "a4_regression_again"
    layout.source(new).mkdir()
    shutil.copy(layout.source(A3) / f"{A3}.ipynb", layout.source(new) / f"{new}.ipynb")
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + f'\nc.Course.due_dates["{new}"] = "2027-03-01 23:59:00 UTC"\n')

    assert instructor.release(course)[-1] == new
    released = nbformat.read(layout.release(new) / f"{new}.ipynb", as_version=4)
    answered = fill(released, {**solution_code(A3), **solution_code(A3, "markdown")})  # the same cells and answers
    monkeypatch.delenv("PYTEST_CURRENT_TEST")  # as nbgrader_environment() does for subprocesses
    nbformat.write(answered, tmp_path / f"{new}.ipynb")
    assert Validator(config=Course.at(course).config).validate(str(tmp_path / f"{new}.ipynb")) == {}

    submit(course, "ana", new, answered)
    [outcome] = whole_class.autograde_class(course, new, ["ana"], workers=1, progress=False)
    assert outcome.status == "graded", outcome.reasons
    assert cell_scores(course, new, "ana") == expected_scores(course, new)


@pytest.mark.parametrize("assignment", Course.at(ROOT).assignments())
def test_a_fetched_assignment_stays_out_of_git(assignment):
    # JupyterLab's Assignments tab fetches into the course folder, under the assignment's name.
    fetched = f"{assignment}/{assignment}.ipynb"
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q", fetched], cwd=ROOT)
    assert ignored.returncode == 0, (f"a fetched {assignment} would show up in git: name the assignment "
                                     "a<number>_<topic> (the pattern in .gitignore) or add it there")


def test_every_course_setting_has_a_type_and_help_and_the_help_lists_it(capsys):
    settings = Course.class_traits(config=True)
    assert set(settings) >= {"submission_seconds", "submission_memory_mb", "due_dates", "late_penalty_per_day"}
    for name, trait in settings.items():
        assert type(trait).__name__ != "Any" and len(trait.help) > 40, f"c.Course.{name} has no type or help"
    with pytest.raises(SystemExit):
        main(["--help-all"])
    shown = capsys.readouterr().out
    assert all(f"c.Course.{name} (" in shown for name in settings)


@pytest.mark.parametrize("line, named", [
    ("c.Course.late_penalty_per_day = 'ten percent'", "c.Course.late_penalty_per_day wrongly"),
    ("c.Course.late_penalty_per_day = 10", "c.Course.late_penalty_per_day wrongly"),
    ("c.Course.submission_seconds = 0", "c.Course.submission_seconds wrongly"),
    ("c.Course.due_dates = ['2027-01-11']", "c.Course.due_dates wrongly"),
    ("c.Course.late_penalty_per_dya = 0.1", "c.Course.late_penalty_per_dya, which is no setting"),
])
@pytest.mark.parametrize("command", [["release"], ["autograde", "a1_layers_units"], ["feedback", "a1_layers_units"],
                                     ["export"], ["clear", "a1_layers_units", "someone"]])
def test_a_wrong_course_setting_stops_every_command_with_its_name(tmp_path, line, named, command):
    config = (ROOT / "nbgrader_config.py").read_text() + "\n" + line + "\n"
    (tmp_path / "nbgrader_config.py").write_text(config)
    with pytest.raises(SystemExit) as stopped:
        main([*command, "--course", str(tmp_path)])
    assert named in str(stopped.value) and "Fix:" in str(stopped.value), stopped.value
