"""Write the student edition of the course (host side).

The edition is a complete course for students, in a folder of its own that
can be pushed as a git repository, opened on a JupyterHub or zipped: the
lectures, the student versions of the assignments, the kernel side of
``dlcourse``, the pinned environment, and a README, Makefile and
``pyproject.toml`` written for students (``dlcourse/host/term/student/``). It
holds nothing of ``solutions/``, the gradebook, the instructor's tools
(``dlcourse/host``) or any executed output.
"""

import fnmatch
import shutil
from pathlib import Path

import nbformat

from .. import HOST_ONLY, backends
from ..course import Course
from ..errors import UserError

# Copied from the course as they are, besides the lectures, the student
# versions and the kernel side of dlcourse/ (see publish).
COPIED_FILES = ("requirements.txt", *map(backends.requirements_file, backends.PACKAGES),
                "environment.yml", "venv.mk")
CACHES = ("__pycache__", ".ipynb_checkpoints", "*.egg-info")
# Written for students: template file name -> name in the edition.
TEMPLATES = {"README.md": "README.md", "Makefile": "Makefile", "pyproject.toml": "pyproject.toml",
             "gitignore": ".gitignore", "nbgrader_config.py": "nbgrader_config.py"}
# The students' nbgrader configuration, which the instructor's loads first.
STUDENT_CONFIG = Path(__file__).parent / "student" / "nbgrader_config.py"
MARKER = ".dlcourse-edition"


class EditionError(UserError):
    """The output folder cannot take the edition, or the course is incomplete."""


def publish(course, output):
    """Write the student edition of ``course`` into ``output``; return its Path.

    Raises:
        EditionError: ``output`` is inside the course (but not build/), or
            holds other files (see :func:`clear`), or a notebook in the
            edition still has outputs.
    """
    course, output = Path(course).resolve(), Path(output).resolve()
    if course == output or (course in output.parents and course / "build" not in output.parents):
        raise EditionError(f"{output} is inside the course. Fix: write the edition under build/ or outside the course.")
    clear(output)
    # First, so that a run that fails midway leaves a folder the next run may replace.
    (output / MARKER).write_text("Written by `python -m dlcourse publish`; the next run replaces everything but .git.\n")
    layout = Course.at(course)
    folders = {layout.lectures: (),
               layout.release(): ("README.md",),  # written for instructors
               course / "dlcourse": HOST_ONLY}
    for folder, at_top in folders.items():
        shutil.copytree(folder, output / folder.relative_to(course), ignore=leave_out(folder, at_top))
    for name in COPIED_FILES:
        shutil.copy2(course / name, output / name)
    for template, name in TEMPLATES.items():
        shutil.copy2(Path(__file__).parent / "student" / template, output / name)
    check_no_outputs(output)
    return output


def leave_out(root, at_top=()):
    """Return a copytree ``ignore`` that leaves out caches anywhere, and the
    names ``at_top`` directly in ``root``."""
    def ignore(directory, names):
        left = {n for n in names if any(fnmatch.fnmatch(n, pattern) for pattern in CACHES)}
        return left | (set(at_top) & set(names) if Path(directory) == root else set())
    return ignore


def clear(output):
    """Make ``output`` an empty folder, keeping ``.git``: it must not exist,
    be empty, hold only ``.git``, or hold an earlier edition (next term's update).

    Raises:
        EditionError: it holds anything else.
    """
    output.mkdir(parents=True, exist_ok=True)
    found = [p for p in output.iterdir() if p.name != ".git"]
    if found and not (output / MARKER).is_file():
        raise EditionError(f"{output} holds files that are not a student edition. Fix: pass a new folder, "
                           "or a clone of the students' repository.")
    for path in found:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def check_no_outputs(output):
    """Raise EditionError if a notebook in the edition holds executed outputs."""
    for path in sorted(Path(output).rglob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        if any(cell.get("outputs") for cell in notebook.cells):
            raise EditionError(f"{path.relative_to(output)} has outputs. Fix: clear them in the course "
                               "(Edit > Clear Outputs of All Cells) and commit it without outputs.")
