"""Grades out to the university's learning-management system (host side).

Besides nbgrader's own CSV (``instructor.export_csv``), two files the LMS
gradebooks import, one row per roster student and one column per
assignment, with the late-penalty rule applied the same in both:

- Canvas (Gradebook > Import, current Canvas LMS): the columns ``Student,
  ID, SIS User ID, SIS Login ID, Section``, then one per assignment, and a
  ``Points Possible`` row. Canvas matches a student by SIS User ID (the
  roster's student id) or SIS Login ID (the hub user name); ID is Canvas's
  own and stays empty. A new assignment column creates the assignment.
- Moodle (Grades > Import > CSV file, Moodle 4.x): a header row, then
  ``ID number, Username, Full name``, one column per assignment and one
  ``<assignment> feedback`` column that says when a submission was late.
  Map "ID number" to the user's idnumber when importing.

A submission with a written answer still to be graded by hand has no grade
yet: its cell stays empty (Canvas and Moodle then leave the grade as it
was), the Moodle feedback column says why, and the export's problems list
it. nbgrader's own CSV does the same through :class:`CsvExport`, the export
plugin ``nbgrader_config.py`` names.

Every file written here holds names, ids and scores: it is made readable by
its owner and group only (:data:`GRADES_FILE_MODE`), whatever the umask.

On a staff server, the same two files are downloads
(``/formgrader/export/<canvas|moodle>.csv``, :class:`GradesDownloadHandler`):
this module is a Jupyter server extension of its own, enabled beside the
formgrader's.

The late rule lives in nbgrader_config.py: ``c.Course.late_penalty_per_day``
is the fraction of the assignment's points taken off per started day late
(0 turns it off), never below zero points.
"""

import csv
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jupyter_server.utils import url_path_join
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import CsvExportPlugin
from nbgrader.server_extensions.formgrader.base import BaseApiHandler, check_notebook_dir
from tornado import web

from . import hub
from ..course import Course

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_COLUMNS = ("ID number", "Username", "Full name")
DAY = 24 * 3600
GRADES_FILE_MODE = 0o640   # the owner (who exported) and the course's group (the staff, on a hub)
PENDING = "to be graded by hand"


@dataclass
class Grade:
    score: float        # after the late penalty
    max_score: float
    days_late: int
    penalty: float
    pending: bool = False   # a written answer is still to be graded by hand: no grade yet


def pending_manual_grading(course):
    """Return [(assignment, student)] of the submissions with an answer still
    to be graded by hand, in the gradebook's order."""
    layout = Course.at(course)
    with Gradebook(layout.gradebook_url, layout.course_id) as gradebook:
        return pending_in(gradebook)


def pending_in(gradebook):
    """Return [(assignment, student)] of ``gradebook``'s submissions still to be graded by hand."""
    return [(a.name, s.student.id) for a in gradebook.assignments for s in a.submissions if s.needs_manual_grade]


def apply_late_rule(score, max_score, seconds_late, per_day):
    """Return the Grade of a submission ``seconds_late`` after its due date."""
    days = math.ceil(seconds_late / DAY) if seconds_late > 0 else 0
    penalty = min(score, per_day * days * max_score)
    return Grade(score - penalty, max_score, days, penalty)


def collect(course, people):
    """Return ({username: {assignment: Grade or None}}, problems): None is
    no submission; problems name each missing submission and each graded
    student who is not on the roster."""
    per_day = Course.at(course).late_penalty_per_day
    students = [p for p in people if not p.staff]
    grades, problems = {}, []
    layout = Course.at(course)
    with Gradebook(layout.gradebook_url, layout.course_id) as gradebook:
        names = [a.name for a in gradebook.assignments]
        for person in students:
            grades[person.username] = {}
            for assignment in names:
                try:
                    submission = gradebook.find_submission(assignment, person.username)
                except MissingEntry:
                    grades[person.username][assignment] = None
                    problems.append(f"{person.username} ({person.student_id}) has no submission of {assignment}: "
                                    "exported as an empty cell")
                    continue
                grade = apply_late_rule(submission.score, submission.max_score, submission.total_seconds_late,
                                        per_day)
                if submission.needs_manual_grade:
                    grade.pending = True
                    problems.append(f"{person.username} ({person.student_id}) has answers of {assignment} still "
                                    f"{PENDING}: exported as an empty cell, not as 0. Fix: grade them in the "
                                    "formgrader (Manual Grading), then export again")
                grades[person.username][assignment] = grade
        on_roster = {p.username for p in people}
        for assignment in gradebook.assignments:
            for submission in assignment.submissions:
                if submission.student.id not in on_roster:
                    problems.append(f"{submission.student.id} submitted {assignment.name} but is not on the roster: "
                                    "left out of the LMS files. Fix: add them to the roster, with their student id")
    return grades, problems


def private(path):
    """Open ``path`` for writing, readable by its owner and group only; return the file."""
    handle = open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, GRADES_FILE_MODE),
                  "w", newline="", encoding="utf-8")
    os.chmod(path, GRADES_FILE_MODE)   # an existing file keeps its mode through os.open
    return handle


def write_canvas(path, people, grades):
    assignments = assignment_names(grades)
    with private(path) as handle:
        out = csv.writer(handle)
        out.writerow([*CANVAS_COLUMNS, *assignments])
        out.writerow(["Points Possible", "", "", "", "", *(max_points(grades, a) for a in assignments)])
        for person in people:
            first, _, last = person.full_name.partition(" ")
            out.writerow([f"{last}, {first}" if last else first, "", person.student_id, person.username, "",
                          *(cell(grades[person.username][a]) for a in assignments)])
    return path


def write_moodle(path, people, grades):
    assignments = assignment_names(grades)
    with private(path) as handle:
        out = csv.writer(handle)
        out.writerow([*MOODLE_COLUMNS, *assignments, *(f"{a} feedback" for a in assignments)])
        for person in people:
            row = grades[person.username]
            out.writerow([person.student_id, person.username, person.full_name,
                          *(cell(row[a]) for a in assignments), *(late_note(row[a]) for a in assignments)])
    return path


def export(course, people, folder):
    """Write grades-canvas.csv and grades-moodle.csv into ``folder`` for the
    roster's students; return ([paths], problems)."""
    students = [p for p in people if not p.staff]
    grades, problems = collect(course, people)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_canvas(folder / "grades-canvas.csv", students, grades),
             write_moodle(folder / "grades-moodle.csv", students, grades)]
    return paths, problems


def assignment_names(grades):
    return sorted({a for row in grades.values() for a in row})


def max_points(grades, assignment):
    found = [g.max_score for row in grades.values() if (g := row[assignment]) is not None]
    return f"{found[0]:g}" if found else ""


def cell(grade):
    return "" if grade is None or grade.pending else f"{grade.score:g}"


def late_note(grade):
    if grade is not None and grade.pending:
        return f"Not graded yet: a written answer is still {PENDING}."
    if grade is None or not grade.days_late:
        return ""
    return f"Late by {grade.days_late} day(s): {grade.penalty:g} point(s) taken off."


class CsvExport(CsvExportPlugin):
    """nbgrader's CSV export (``nbgrader export``, ``make grades``), with the
    score of a submission still to be graded by hand left empty, a ``needs_manual_grade``
    column, and the file readable by its owner and group only."""

    def export(self, gradebook):
        path = self.to or "grades.csv"
        private(path).close()   # nbgrader's export then writes into a file that is private from the start
        super().export(gradebook)
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
        pending = set(pending_in(gradebook))
        with private(path) as handle:
            out = csv.DictWriter(handle, [*reader.fieldnames, "needs_manual_grade"], lineterminator="\n")
            out.writeheader()
            for row in rows:
                waiting = (row["assignment"], row["student_id"]) in pending
                if waiting:
                    row.update(raw_score="", late_submission_penalty="", score="")
                out.writerow({**row, "needs_manual_grade": str(waiting)})


# --- the files as downloads on a staff server ------------------------------------------------------------------------

EXPORT_URL = r"/formgrader/export/(canvas|moodle)\.csv"


class GradesDownloadHandler(BaseApiHandler):
    """``GET /formgrader/export/<canvas|moodle>.csv``: the file ``make grades``
    writes for that LMS, for the roster named by DLCOURSE_ROSTER (the hub sets
    it on staff servers)."""

    @web.authenticated
    @check_notebook_dir
    def get(self, system):
        roster = os.environ.get(hub.ROSTER_VARIABLE)
        if not roster:
            raise web.HTTPError(404, f"No roster: set {hub.ROSTER_VARIABLE} (the hub does) to export for an LMS.")
        with tempfile.TemporaryDirectory() as folder:
            paths, _ = export(Path(self.coursedir.root), hub.read_roster(roster), folder)
            text = next(p for p in paths if p.name == f"grades-{system}.csv").read_text()
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="grades-{system}.csv"')
        self.finish(text)


def _jupyter_server_extension_points():
    return [{"module": __name__}]


def _load_jupyter_server_extension(server_app):
    web_app = server_app.web_app
    web_app.add_handlers(".*$", [(url_path_join(web_app.settings["base_url"], EXPORT_URL), GradesDownloadHandler)])
