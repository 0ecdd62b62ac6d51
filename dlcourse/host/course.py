"""Host side: the course directory, as nbgrader's own configuration describes it.

A :class:`Course` is built from a folder holding ``nbgrader_config.py``. Every
folder (solutions, student versions, submissions, autograded copies,
feedback) and the gradebook's URL come from nbgrader's ``CourseDirectory``
configured by that file, so a folder renamed there is renamed for every
command and test. The grading limits of one submission are read from the same
file.
"""

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

from .errors import UserError

CONFIG_FILE = "nbgrader_config.py"
LECTURES = "lectures"  # the one folder nbgrader does not know


class CourseError(UserError):
    """The course directory, its configuration or an assignment name is wrong."""


@dataclass(frozen=True)
class Course:
    """A course directory; ``root`` is absolute."""
    root: Path

    @classmethod
    def at(cls, path="."):
        """Return the Course in ``path``.

        Raises:
            CourseError: there is no nbgrader_config.py in it.
        """
        root = Path(path).resolve()
        if not (root / CONFIG_FILE).is_file():
            raise CourseError(f"{root} is not a course directory: it has no {CONFIG_FILE}. "
                              "Fix: run from the repository root or pass --course DIR.")
        return cls(root)

    @cached_property
    def config(self):
        """The course's nbgrader_config.py, loaded (a traitlets Config)."""
        return PyFileConfigLoader(CONFIG_FILE, path=str(self.root)).load_config()

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

    def setting(self, name, default=None):
        """Return ``c.Course.<name>`` from nbgrader_config.py, or ``default``."""
        return self.config.Course.get(name, default)
