"""Host side: the course directory, as nbgrader's own configuration describes it.

A :class:`Course` is built from a folder holding ``nbgrader_config.py``. Every
folder (solutions, student versions, submissions, autograded copies,
feedback) and the gradebook's URL come from nbgrader's ``CourseDirectory``
configured by that file, so a folder renamed there is renamed for every
command and test. The course's own settings (``c.Course.*``: the limits of
one submission, the due dates, the late rule) are typed, documented traits of
:class:`Course`, a traitlets ``Configurable`` as nbgrader's classes are:
``python -m dlcourse --help-all`` lists them, and a wrong one stops every
command with its name.
"""

import json
import re
import textwrap
from functools import cached_property
from pathlib import Path

from nbgrader.coursedir import CourseDirectory
from traitlets import Dict, Float, Integer, TraitError, Unicode
from traitlets.config import Configurable
from traitlets.config.loader import PyFileConfigLoader

from .errors import UserError

CONFIG_FILE = "nbgrader_config.py"
LECTURES = "lectures"  # the one folder nbgrader does not know


class CourseError(UserError):
    """The course directory, its configuration or an assignment name is wrong."""


class Course(Configurable):
    """A course directory (``root``, absolute) and its ``c.Course`` settings."""

    submission_seconds = Integer(
        None, allow_none=True, min=1,
        help="The time limit of one submission's grading, the whole notebook from start to end, in seconds "
             "(the command line's --wall-seconds overrides it).").tag(config=True)
    submission_memory_mb = Integer(
        None, allow_none=True, min=1,
        help="The memory limit of one submission's grading, its kernel and nbgrader together, in MB "
             "(the command line's --memory-mb overrides it).").tag(config=True)
    due_dates = Dict(
        key_trait=Unicode(), value_trait=Unicode(),
        help="The due date of each assignment (its folder's name), as nbgrader reads dates: "
             "'2027-01-11 23:59:00 UTC'. `make release` writes them into the gradebook.").tag(config=True)
    late_penalty_per_day = Float(
        0.0, min=0.0, max=1.0,
        help="The fraction from 0 to 1 of an assignment's points taken off per started day late, never below "
             "zero points, in every grade export (0: no penalty).").tag(config=True)

    def __init__(self, root, **kwargs):
        self.root = root
        super().__init__(**kwargs)

    @classmethod
    def at(cls, path="."):
        """Return the Course in ``path``, its settings read from its nbgrader_config.py.

        Raises:
            CourseError: there is no nbgrader_config.py in it, or a ``c.Course``
                setting there is unknown or of the wrong type or value.
        """
        root = Path(path).resolve()
        if not (root / CONFIG_FILE).is_file():
            raise CourseError(f"{root} is not a course directory: it has no {CONFIG_FILE}. "
                              "Fix: run from the repository root or pass --course DIR.")
        config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
        known = cls.class_trait_names(config=True)
        unknown = sorted(set(config.Course) - set(known))
        if unknown:
            raise CourseError(f"{root / CONFIG_FILE} sets c.Course.{unknown[0]}, which is no setting of the course. "
                              f"Fix: use one of {', '.join(sorted(known))} (python -m dlcourse --help-all).")
        try:
            return cls(root, config=config)
        except TraitError as error:
            named = re.search(r"'(\w+)' trait", str(error))
            name = named.group(1) if named else "?"
            help_text = cls.class_traits()[name].help if name in known else ""
            raise CourseError(f"{root / CONFIG_FILE} sets c.Course.{name} wrongly: {error} Fix: {help_text}") \
                from error

    @classmethod
    def settings_help(cls):
        """Return the help of every ``c.Course`` setting: its name, type, default and help (text)."""
        lines = []
        for name, trait in sorted(cls.class_traits(config=True).items()):
            lines += [f"c.Course.{name} ({type(trait).__name__}, default {trait.default_value!r})",
                      textwrap.indent(textwrap.fill(trait.help, 76), "    ")]
        return "\n".join(lines)

    @cached_property
    def directory(self):
        """nbgrader's CourseDirectory for this course, rooted at ``root``."""
        return CourseDirectory(config=self.config, root=str(self.root))

    @property
    def config_path(self):
        return self.root / CONFIG_FILE

    @property
    def course_id(self):
        return self.directory.course_id

    @property
    def gradebook_url(self):
        return self.directory.db_url

    @property
    def gradebook_path(self):
        return Path(self.gradebook_url.removeprefix("sqlite:///"))

    @property
    def lectures(self):
        """The folder of the lecture notebooks."""
        return self.root / LECTURES

    def _folder(self, step, student, assignment):
        return Path(self.directory.format_path(step, student, assignment))

    def source(self, assignment="."):
        """The folder of an assignment's source notebooks (with solutions), or of all of them."""
        return self._folder(self.directory.source_directory, ".", assignment)

    def release(self, assignment="."):
        """The folder of an assignment's student version, or of all of them."""
        return self._folder(self.directory.release_directory, ".", assignment)

    def submitted(self, student=".", assignment="."):
        return self._folder(self.directory.submitted_directory, student, assignment)

    def autograded(self, student=".", assignment="."):
        return self._folder(self.directory.autograded_directory, student, assignment)

    def feedback(self, student=".", assignment="."):
        return self._folder(self.directory.feedback_directory, student, assignment)

    def assignments(self):
        """Return the assignment names: the folders of the source folder."""
        return sorted(p.name for p in self.source().iterdir() if p.is_dir() and not p.name.startswith("."))

    def students_who_submitted(self, assignment):
        """Return the ids of the students with a submission of ``assignment``, sorted."""
        folder = self.submitted()
        if not folder.is_dir():
            return []
        return sorted(p.parent.name for p in folder.glob(f"*/{assignment}") if p.is_dir())

    def unreadable_notebooks(self, assignment, student):
        """Return a message for each of the assignment's notebooks that
        ``student`` submitted and that is not valid JSON. Other notebooks
        beside them (a student's scratch copy) are not graded (nbgrader skips
        a notebook its gradebook does not know), so a broken one never stops
        the grading."""
        graded = {path.name for path in self.release(assignment).glob("*.ipynb")}
        problems = []
        for path in sorted(self.submitted(student, assignment).glob("*.ipynb")):
            if path.name not in graded:
                continue
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                problems.append(f"{path.relative_to(self.root)} is not a valid notebook (invalid JSON: {exc}). "
                                "It was not graded; the file is kept as submitted. Fix: ask the student to "
                                "re-save it from JupyterLab and submit again.")
        return problems

    def check_assignment(self, assignment):
        """Raise CourseError unless ``assignment`` is one of the course's."""
        if assignment not in self.assignments():
            raise CourseError(f"No assignment {assignment!r}; the course has {', '.join(self.assignments())}.")
