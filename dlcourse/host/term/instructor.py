"""Host side: the instructor's nbgrader steps other than autograding
(release, feedback, export), and the checks they share with it.

Every command works on a course directory (the repository root, or a copy)
holding ``nbgrader_config.py``. nbgrader is run as a subprocess of this
Python, with this environment's ``bin/`` first on PATH (nbgrader needs its
``alembic`` there). Autograding is :mod:`dlcourse.host.grading.whole_class`.
"""

import glob
import subprocess
import sys
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.utils import parse_utc

from ..course import Course, CourseError
from ..nbgrader_process import explain_failure, nbgrader_environment


def nbgrader(course, *args):
    """Run ``nbgrader ARGS`` in the course directory; return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=nbgrader_environment(),
                          capture_output=True, text=True)


def failure(result):
    """Return nbgrader's error lines from a failed run (a CompletedProcess)."""
    return explain_failure(result.stdout + result.stderr)


def due_dates(course):
    """Return {assignment: due date text} from ``c.Course.due_dates`` in nbgrader_config.py.

    Raises:
        CourseError: an assignment has no due date, or one names no assignment.
    """
    layout = Course.at(course)
    dates, names = dict(layout.due_dates), set(layout.assignments())
    missing, unknown = names - set(dates), set(dates) - names
    if missing or unknown:
        raise CourseError(f"c.Course.due_dates in nbgrader_config.py lacks {sorted(missing)} and names unknown "
                          f"{sorted(unknown)}. Fix: give each folder of solutions/ exactly one due date.")
    return dates


def release(course):
    """Regenerate assignments/ from solutions/ for every assignment and
    write their due dates into the gradebook; return the assignment names.

    Raises:
        CourseError: a due date is missing or wrong, or nbgrader could not
            generate an assignment.
    """
    dates = due_dates(course)
    for assignment in dates:
        result = nbgrader(course, "generate_assignment", assignment, "--force")
        if result.returncode != 0:
            raise CourseError(f"nbgrader could not generate {assignment}:\n{failure(result)}")
    with Gradebook(Course.at(course).gradebook_url) as gradebook:  # nbgrader made it
        for assignment, due in dates.items():
            gradebook.update_or_create_assignment(assignment, duedate=parse_utc(due))
    return Course.at(course).assignments()


def feedback(course, assignment):
    """Write the HTML feedback of every graded student; return the files.

    Raises:
        CourseError: nothing of ``assignment`` is autograded yet, or nbgrader failed.
    """
    Course.at(course).check_assignment(assignment)
    if not glob.glob(str(Course.at(course).autograded("*", assignment) / "*.ipynb")):
        raise CourseError(f"No submission of {assignment} is autograded yet, so there is no feedback to write. "
                          f"Fix: make autograde A={assignment} first.")
    result = nbgrader(course, "generate_feedback", assignment, "--force")
    if result.returncode != 0:
        raise CourseError(f"nbgrader generate_feedback failed:\n{failure(result)}")
    return sorted(Path(p) for p in glob.glob(str(Course.at(course).feedback("*", assignment) / "*.html")))


def export_csv(course, path):
    """Export all grades to the CSV file ``path``; return its Path.

    Raises:
        CourseError: nbgrader failed.
    """
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    result = nbgrader(course, "export", "--to", str(path))
    if result.returncode != 0:
        raise CourseError(f"nbgrader export failed:\n{failure(result)}")
    return path
