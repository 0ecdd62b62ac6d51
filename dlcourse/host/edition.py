"""Write the student edition of the course (host side).

The edition is a complete course for students, in a folder of its own that
can be pushed as a git repository, opened on a JupyterHub or zipped: the
lectures, the student versions of the assignments, the kernel side of
``dlcourse``, the pinned environment, and a README, Makefile and
``pyproject.toml`` written for students (``dlcourse/host/student/``). It
holds nothing of ``solutions/``, the gradebook, the instructor's tools
(``dlcourse/host``) or any executed output.
"""

import shutil
from pathlib import Path

import nbformat

# Copied from the course as they are (folders whole, minus the host side and caches).
COPIED = ("lectures", "assignments", "dlcourse", "requirements.txt", "environment.yml", "venv.mk")
LEFT_OUT = ("host", "__main__.py", "__pycache__", ".ipynb_checkpoints", "*.egg-info",
            "README.md")  # assignments/README.md is written for instructors
# Written for students: template file name -> name in the edition.
TEMPLATES = {"README.md": "README.md", "Makefile": "Makefile", "pyproject.toml": "pyproject.toml",
             "gitignore": ".gitignore"}
CONFIG_END = "# --- instructor only below"
MARKER = ".dlcourse-edition"


class EditionError(RuntimeError):
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
    for name in COPIED:
        source = course / name
        if source.is_dir():
            shutil.copytree(source, output / name, ignore=shutil.ignore_patterns(*LEFT_OUT))
        else:
            shutil.copy2(source, output / name)
    for template, name in TEMPLATES.items():
        shutil.copy2(Path(__file__).parent / "student" / template, output / name)
    (output / "nbgrader_config.py").write_text(student_config(course))
    (output / MARKER).write_text("Written by `python -m dlcourse publish`; the next run replaces everything but .git.\n")
    check_no_outputs(output)
    return output


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


def student_config(course):
    """Return the course's nbgrader_config.py up to its instructor-only part
    (course id, kernel, time limit and ignored warnings: what Validate uses)."""
    text = (Path(course) / "nbgrader_config.py").read_text()
    if CONFIG_END not in text:
        raise EditionError(f"nbgrader_config.py has no line starting with {CONFIG_END!r}. "
                           "Fix: put it before the instructor-only settings.")
    return text[: text.index(CONFIG_END)].rstrip() + "\n"


def check_no_outputs(output):
    """Raise EditionError if a notebook in the edition holds executed outputs."""
    for path in sorted(Path(output).rglob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        if any(cell.get("outputs") for cell in notebook.cells):
            raise EditionError(f"{path.relative_to(output)} has outputs. Fix: clear them in the course "
                               "(Edit > Clear Outputs of All Cells) and commit it without outputs.")
