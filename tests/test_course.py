"""The course model: folders, gradebook and limits come from nbgrader_config.py."""

import shutil

import pytest
from traitlets.config.loader import PyFileConfigLoader

from conftest import ROOT
from dlcourse.host import edition, grader, instructor
from dlcourse.host.course import Course, CourseError
from dlcourse.host.submission import Limits


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
    [job] = grader.make_jobs(course.root, assignment, ["ana"], Limits().for_course(course))
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
