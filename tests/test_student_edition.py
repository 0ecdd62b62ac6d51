"""The student edition: complete for students, and holding no solution.

The leak test builds the edition from this repository and searches every
file in it for every line of solution code, written answer and hidden test
taken from solutions/. The slow test sets the edition up from its own
Makefile and runs a lecture and a student version there.
"""

import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT
from dlcourse import jupyter
from dlcourse.datasets import files
from dlcourse.host import backends
from dlcourse.host.lectures import recorded
from dlcourse.host.term import edition
from dlcourse.host.course import Course
from dlcourse.host.nbgrader_process import nbgrader_environment

COURSE = Course.at(ROOT)

REGION = re.compile(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)")


def secret_lines(min_length=12):
    """Return {line: where} for the lines only a solution notebook has: code
    between BEGIN/END SOLUTION or HIDDEN TESTS, and written answers. Lines
    that also appear outside those regions (given code, imports) or in a
    lecture are public by design and left out, as are short ones (``)``)."""
    secret, public = {}, set()
    for path in sorted(COURSE.source().rglob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            answer = cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution")
            inside = False
            for line in cell.source.splitlines():
                if REGION.search(line):
                    inside = line.strip().startswith("### BEGIN")
                elif inside or answer:
                    secret.setdefault(line.strip(), path.name)
                else:
                    public.add(line.strip())
    for path in sorted(COURSE.lectures.glob("*.ipynb")):
        public.update(line.strip() for cell in nbformat.read(path, as_version=4).cells
                      for line in cell.source.splitlines())
    return {line: where for line, where in secret.items() if len(line) >= min_length and line not in public}


def lines_of(path):
    """Return the stripped lines of a file; of a notebook, those of its cells
    and their outputs (its JSON would hide lines in escaped strings)."""
    if path.suffix == ".ipynb":
        notebook = nbformat.read(path, as_version=4)
        texts = [cell.source for cell in notebook.cells]
        texts += [str(o.get("text", "")) + str(o.get("data", "")) for c in notebook.cells for o in c.get("outputs", [])]
    else:
        texts = [path.read_text(errors="replace")]
    return {line.strip() for text in texts for line in text.splitlines()}


def leaks(folder, secrets):
    """Return "file: line" for every secret line that is a whole line of any file under ``folder``."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        found += [f"{path.relative_to(folder)}: {line!r} (from {secrets[line]})"
                  for line in sorted(lines_of(path) & secrets.keys())]
    return found


@pytest.fixture(scope="module")
def student_edition(tmp_path_factory):
    return edition.publish(ROOT, tmp_path_factory.mktemp("edition") / "keras-course")


def test_the_edition_holds_no_solution_and_no_hidden_test(student_edition, tmp_path):
    secrets = secret_lines()
    assert len(secrets) >= 100, f"only {len(secrets)} secret lines found: the search would prove little"
    found = leaks(student_edition, secrets)
    assert not found, "the student edition leaks:\n" + "\n".join(found)
    # The same search finds a solution notebook copied in by mistake.
    leaked = tmp_path / "leaked"
    shutil.copytree(student_edition, leaked)
    shutil.copy(ROOT / "solutions" / "a2_dropout_l2" / "a2_dropout_l2.ipynb", leaked / "assignments")
    assert len(leaks(leaked, secrets)) >= 20


def test_the_edition_has_what_students_need_and_nothing_else(student_edition):
    files = {str(p.relative_to(student_edition)) for p in student_edition.rglob("*") if p.is_file()}
    for needed in ("README.md", "Makefile", "venv.mk", "pyproject.toml", "requirements.txt", "environment.yml",
                   "nbgrader_config.py", ".gitignore", "dlcourse/jupyter.py", "dlcourse/grading.py",
                   "dlcourse/datasets/files.py", "lectures/01_mnist.ipynb",
                   "assignments/a1_layers_units/a1_layers_units.ipynb"):
        assert needed in files, f"the student edition lacks {needed}"
    unwanted = [f for f in files if f.startswith(("solutions", "dlcourse/host", "tests", "build", "release"))
                or f.endswith((".db", "__main__.py", ".pyc"))]
    assert not unwanted, f"the student edition holds instructor files: {unwanted}"
    for name in edition.COPIED_FILES:
        assert (student_edition / name).read_bytes() == (ROOT / name).read_bytes(), (
            f"students must get the environment their work is graded in: {name} differs")
    assert set(map(backends.requirements_file, backends.PACKAGES)) <= files, "students need every backend's pins"
    config = (student_edition / "nbgrader_config.py").read_text()
    assert "dlcourse.host" not in config and 'kernel_name = "dlcourse"' in config


def test_publishing_refuses_a_folder_with_other_files_and_updates_an_earlier_edition(student_edition, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(edition.EditionError, match="not a student edition"):
        edition.publish(ROOT, other)
    (student_edition / ".git").mkdir(exist_ok=True)
    (student_edition / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (student_edition / "lectures" / "old_lecture.ipynb").write_text("{}")
    edition.publish(ROOT, student_edition)
    assert (student_edition / ".git" / "HEAD").is_file(), "publishing again must keep the repository"
    assert not (student_edition / "lectures" / "old_lecture.ipynb").exists(), "files of the last term must go"
    with pytest.raises(edition.EditionError, match="inside the course"):
        edition.publish(ROOT, ROOT / "lectures" / "edition")


def instructor_tools_left(python, folder, env):
    """Return nbgrader's instructor tools still on in the environment of
    ``python``, as Jupyter's own listings show them (and the student tools if off)."""
    def listing(*command):
        done = subprocess.run([python, "-m", "jupyter", *command, "list"], cwd=folder, env=env, capture_output=True,
                              text=True, check=True)
        return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr).splitlines()

    lab = listing("labextension")
    disabled = lab[lab.index("Disabled extensions:") + 1:] if "Disabled extensions:" in lab else []
    disabled = {line.strip() for line in disabled if line.startswith("    ")}
    left = [e for e in jupyter.INSTRUCTOR_LAB_EXTENSIONS if e not in disabled]
    left += [f"{e} (a student tool) is off" for e in disabled if "assignment-list" in e or "validate" in e]
    server = [line.split() for line in listing("server", "extension") if "nbgrader.server_extensions." in line]
    states = {words[0]: words[1] for words in server if len(words) == 2 and words[1] in ("enabled", "disabled")}
    left += [e for e in jupyter.INSTRUCTOR_SERVER_EXTENSIONS if states.get(e) != "disabled"]
    left += [f"{e} (a student tool) is off" for e, state in states.items() if state != "enabled"
             and e not in jupyter.INSTRUCTOR_SERVER_EXTENSIONS]
    return left


@pytest.mark.slow
def test_the_edition_sets_itself_up_and_runs_a_lecture_and_an_assignment(student_edition):
    """`make venv KERAS_BACKEND=jax` of the edition alone (its own Makefile,
    requirements and package; a student on a laptop who picks JAX), then a
    lecture in fast mode and a student version, executed by the edition's own
    papermill in the edition's own kernel, on JAX."""
    env = {k: v for k, v in nbgrader_environment().items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(sys.prefix))
    env["PYTHON"] = sys._base_executable
    env[files.DATA_DIR_VARIABLE] = str(files.data_dir())  # the edition lies elsewhere: name the course's data
    env.pop(backends.VARIABLE, None)  # make exports the one it is given
    setup = subprocess.run(["make", "venv", "KERAS_BACKEND=jax"], cwd=student_edition, env=env, capture_output=True,
                           text=True)
    assert setup.returncode == 0, f"make venv failed in the edition:\n{setup.stdout[-3000:]}\n{setup.stderr[-3000:]}"
    python = student_edition / ".venv" / "bin" / "python"
    check = subprocess.run([python, "-c", "import dlcourse, importlib.util; print(importlib.util.find_spec('dlcourse.host'))"],
                           cwd=student_edition, env=env, capture_output=True, text=True, check=True)
    assert check.stdout.strip() == "None", "the edition's environment can import the instructor's tools"
    assert instructor_tools_left(python, student_edition, env) == []
    installed = subprocess.run([python, "-c", "import importlib.util as u; print([u.find_spec(m) is not None "
                                "for m in ('jax', 'tensorflow', 'torch')])"], env=env, capture_output=True, text=True)
    assert installed.stdout.strip() == "[True, False, False]", "the edition's venv should hold JAX and no other backend"
    env[backends.VARIABLE] = "jax"  # as `make lab KERAS_BACKEND=jax` sets it for JupyterLab's kernels

    def execute(notebook, *parameters):
        out = student_edition.parent / f"executed-{notebook.name}"
        return subprocess.run([python, "-m", "papermill", notebook, out, "--cwd", notebook.parent, *parameters],
                              cwd=student_edition, env=env, capture_output=True, text=True), out

    lecture, out = execute(student_edition / "lectures" / "01_mnist.ipynb", "-p", "FAST", "True")
    assert lecture.returncode == 0, f"lecture 1 failed in the edition:\n{lecture.stderr[-3000:]}"
    executed = nbformat.read(out, as_version=4)
    stderr = [o for c in executed.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not stderr, f"lecture 1 wrote to stderr in the edition's kernel: {stderr[:2]}"
    assert recorded.keras_backend(executed) == "jax", "lecture 1 did not run on the backend the student chose"

    name = "a1_layers_units"
    assignment, out = execute(student_edition / COURSE.release(name).relative_to(ROOT) / f"{name}.ipynb")
    assert assignment.returncode != 0, "the unsolved student version ran through: is it solved?"
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert [e["ename"] for e in errors] == ["NotImplementedError"], (
        f"the student version should stop at its first unsolved exercise, not at {[e['ename'] for e in errors]}")
    setup_cell = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    assert setup_cell.execution_count and not any(o.get("name") == "stderr" for o in setup_cell.outputs)


def test_only_the_top_level_readme_of_the_student_versions_is_left_out(tmp_path):
    root = tmp_path / "assignments"
    ignore = edition.leave_out(root, ("README.md",))
    assert ignore(str(root), ["README.md", "a1", "__pycache__"]) == {"README.md", "__pycache__"}
    assert ignore(str(root / "a1"), ["README.md", "a1.ipynb", ".ipynb_checkpoints"]) == {".ipynb_checkpoints"}
