"""The whole nbgrader pipeline on real submissions, in a temporary copy of the
course directory with a real sqlite gradebook.

Release: nbgrader regenerates exactly the committed assignments/, and nothing
of the solutions leaks into them. Scores: the solution gets full marks on
every autograded cell of every assignment; on assignment 3 a class of
prepared submissions (blank, partly right, leaky, edited tests, deleted
tests, endless loop, dying kernel, broken JSON) is graded, each on its own.
"""

import csv
import re
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.validator import Validator
from traitlets.config.loader import PyFileConfigLoader

from dlcourse import instructor
from conftest import ROOT

ASSIGNMENTS = instructor.assignments(ROOT)
A3 = "a3_regression"
SOLUTION_MARK = re.compile(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)")


# -- Building submissions ------------------------------------------------------

def student_version(assignment):
    return nbformat.read(ROOT / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)


def solution_code(assignment):
    """Return {grade_id: source} of the solution cells, without the markers."""
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: "\n".join(l for l in c.source.splitlines() if not SOLUTION_MARK.search(l))
            for c in source.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}


def fill(notebook, answers):
    """Return a copy of the student version with these cells' sources replaced."""
    notebook = nbformat.from_dict(notebook)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


def without(notebook, grade_ids):
    notebook = nbformat.from_dict(notebook)
    notebook.cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in grade_ids]
    return notebook


def submit(course, student, assignment, notebook):
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    if isinstance(notebook, str):
        (folder / f"{assignment}.ipynb").write_text(notebook)
    else:
        nbformat.write(notebook, folder / f"{assignment}.ipynb")


def save_report(name, assignment, outcomes):
    """Keep the autograde table (scores and time per submission) in build/."""
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / f"autograde-{name}.md").write_text(instructor.format_outcomes(assignment, outcomes) + "\n")


def cell_scores(course, assignment, student):
    """Return {grade_id: autograded score} of the code test cells of a graded submission."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        return {g.name: g.auto_score for g in notebook.grades if g.cell.cell_type == "code"}


def max_scores(course, assignment):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {c.name: c.max_score for c in gradebook.find_notebook(assignment, assignment).grade_cells
                if c.cell_type == "code"}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of the course directory whose gradebook knows every assignment."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    instructor.release(course)
    return course


# -- Release -------------------------------------------------------------------

def test_release_reproduces_the_committed_assignments(course):
    for assignment in ASSIGNMENTS:
        generated = course / "assignments" / assignment / f"{assignment}.ipynb"
        committed = ROOT / "assignments" / assignment / f"{assignment}.ipynb"
        assert committed.exists(), f"assignments/{assignment} is missing: run `make release` and commit it."
        assert generated.read_text() == committed.read_text(), (
            f"assignments/{assignment} is out of date with solutions/{assignment}: run `make release` and commit it."
        )


def test_no_solution_or_hidden_test_reaches_the_students():
    for assignment in ASSIGNMENTS:
        source = (ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text()
        released = nbformat.read(ROOT / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)
        text = "\n".join(c.source for c in released.cells)
        assert not SOLUTION_MARK.search(text), f"{assignment}: a solution or hidden-test marker was released"
        inside_lines, public_lines = set(), set()
        for cell in nbformat.reads(source, as_version=4).cells:
            inside = False
            for line in cell.source.splitlines():
                if SOLUTION_MARK.search(line):
                    inside = "BEGIN" in line
                else:
                    (inside_lines if inside else public_lines).add(line.strip())
        # Lines that only the solutions and hidden tests contain (long enough to be distinctive).
        secret = [line for line in inside_lines - public_lines if len(line) >= 25]
        assert secret, f"{assignment}: no solution lines found, so this test would check nothing"
        released_lines = {line.strip() for line in text.splitlines()}
        leaked = [line for line in secret if line in released_lines]
        assert not leaked, f"{assignment}: solution or hidden-test lines appear in the student version: {leaked[:3]}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_solution_passes_nbgrader_validate(assignment, course, monkeypatch):
    monkeypatch.delenv("PYTEST_CURRENT_TEST")  # let the kernel capture stderr as it does for students
    validator = Validator(config=PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config())
    problems = validator.validate(str(course / "solutions" / assignment / f"{assignment}.ipynb"))
    assert problems == {}, f"{assignment}: nbgrader validate reports {problems}"
    if assignment == A3:  # the same check fails a notebook that is not done
        blank = validator.validate(str(course / "assignments" / assignment / f"{assignment}.ipynb"))
        assert blank.get("failed"), "validate passed an unsolved student version"


# -- Scores on every assignment ----------------------------------------------

WRONG = {
    # A typical mistake per assignment that a training-based test must catch.
    # (the cell, the tests that must give 0 points, the wrong code)
    "a1_layers_units": ("train_and_validate", {"test_train_and_validate"}, (
        "def train_and_validate(model, epochs, batch_size=512):\n"
        "    history = model.fit(partial_x_train, partial_y_train, epochs=epochs, batch_size=batch_size,\n"
        "                        validation_data=(partial_x_train, partial_y_train), verbose=0)\n"
        "    return history.history")),
    "a2_dropout_l2": ("chosen", {"test_chosen"}, 'chosen = {"regularizer": make_regularizer("l1", 0.001)}'),
    "a3_regression": ("normalize", {"test_normalize_no_leak", "test_k_fold_normalizes_per_fold"}, (
        "def normalize(train, other):\n"
        "    return (train - train.mean(axis=0)) / train.std(axis=0), (other - other.mean(axis=0)) / other.std(axis=0)")),
}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_marks_and_a_typical_mistake_does_not(assignment, course):
    answers = solution_code(assignment)
    submit(course, "solution", assignment, fill(student_version(assignment), answers))
    cell, failing, wrong_code = WRONG[assignment]
    submit(course, "mistake", assignment, fill(student_version(assignment), {**answers, cell: wrong_code}))

    graded = instructor.autograde(course, assignment, ["solution", "mistake"])
    save_report(assignment, assignment, graded)
    outcomes = {o.student: o for o in graded}
    expected = max_scores(course, assignment)
    assert outcomes["solution"].error is None, outcomes["solution"].error
    assert cell_scores(course, assignment, "solution") == expected, "the solution lost points"
    mistake = cell_scores(course, assignment, "mistake")
    assert {k for k, v in mistake.items() if v == 0} == failing, (
        f"a typical mistake in {cell} should fail exactly {failing}; scores: {mistake}"
    )
    assert all(mistake[k] == expected[k] for k in expected if k not in failing)


# -- A whole class on assignment 3 ------------------------------------------


@pytest.fixture(scope="module")
def graded_class(course):
    """Submit a class of prepared notebooks for assignment 3 and autograde it."""
    blank = student_version(A3)
    answers = solution_code(A3)
    solved = fill(blank, answers)
    leaky_normalize = WRONG[A3][2]
    edited_test = fill(blank, {"test_build_model_layers": 'print("all tests passed")'})
    submissions = {
        "blank": blank,
        "partial": fill(blank, {k: answers[k] for k in ("normalize", "choose_epochs")}),
        "leaky": fill(solved, {"normalize": leaky_normalize}),
        "edited_tests": edited_test,
        "deleted_tests": without(solved, {"test_normalize_train", "test_choose_epochs_smoothing"}),
        "crash": fill(solved, {"build_model": "import os\nos._exit(1)"}),
        "broken_json": '{"cells": [ {"cell_type": "code", ',
    }
    for student, notebook in submissions.items():
        submit(course, student, A3, notebook)
    endless = fill(solved, {"choose_epochs": "def choose_epochs(maes, skip=10, factor=0.9):\n    while True:\n        pass"})
    submit(course, "endless_loop", A3, endless)

    graded = instructor.autograde(course, A3, list(submissions))
    # A short cell timeout keeps this affordable; the mechanism is the configured one.
    graded += instructor.autograde(course, A3, ["endless_loop"], ["--Execute.timeout=20"])
    save_report("a3_regression-class", A3, graded)
    return {o.student: o for o in graded}


def autograded_total(course, student):
    return sum(cell_scores(course, A3, student).values())


@pytest.mark.slow
def test_blank_submission_scores_zero_on_every_cell(course, graded_class):
    assert graded_class["blank"].error is None
    assert set(cell_scores(course, A3, "blank").values()) == {0}


@pytest.mark.slow
def test_partial_and_leaky_submissions_get_exactly_their_points(course, graded_class):
    # normalize (2 + 3) and choose_epochs (2 + 2) are right; the rest raises NotImplementedError.
    assert autograded_total(course, "partial") == 9
    # Leaking test statistics is caught twice: in normalize and in the k-fold normalization.
    scores = cell_scores(course, A3, "leaky")
    assert scores["test_normalize_no_leak"] == 0 and scores["test_k_fold_normalizes_per_fold"] == 0
    assert autograded_total(course, "leaky") == 16 - 3 - 3


@pytest.mark.slow
def test_grading_twice_gives_the_same_scores(course, graded_class):
    before = cell_scores(course, A3, "partial")
    [again] = instructor.autograde(course, A3, ["partial"])
    assert again.error is None and cell_scores(course, A3, "partial") == before


@pytest.mark.slow
def test_edited_and_deleted_test_cells_are_graded_on_the_original_tests(course, graded_class):
    assert autograded_total(course, "edited_tests") == 0, "an edited test cell was not restored"
    scores = cell_scores(course, A3, "deleted_tests")
    assert {"test_normalize_train", "test_choose_epochs_smoothing"} <= set(scores), "deleted test cells were not re-added"
    assert autograded_total(course, "deleted_tests") == 16


@pytest.mark.slow
def test_an_endless_loop_is_stopped_by_the_timeout(course, graded_class):
    assert graded_class["endless_loop"].error is None, graded_class["endless_loop"].error
    scores = cell_scores(course, A3, "endless_loop")
    assert scores["test_choose_epochs_simple"] == 0 and scores["test_choose_epochs_smoothing"] == 0
    assert autograded_total(course, "endless_loop") == 16 - 4


@pytest.mark.slow
def test_a_dying_kernel_and_broken_json_affect_only_that_student(course, graded_class):
    crash = graded_class["crash"]
    assert crash.error and "kernel died" in crash.error, f"a dead kernel must be reported: {crash}"
    broken = graded_class["broken_json"]
    assert broken.error and "invalid JSON" in broken.error and "broken_json" in broken.error
    assert (course / "submitted" / "broken_json" / A3 / f"{A3}.ipynb").exists(), "the broken submission was lost"
    for student in ("blank", "partial", "leaky", "edited_tests", "deleted_tests"):
        assert graded_class[student].error is None, f"{student} was not graded: {graded_class[student].error}"


@pytest.mark.slow
def test_feedback_and_grade_export(course, graded_class):
    files = instructor.feedback(course, A3)
    graded = {student for student, o in graded_class.items() if o.error is None}
    assert {f.parent.parent.name for f in files} >= graded, "a graded student got no feedback"
    assert "broken_json" not in {f.parent.parent.name for f in files}

    table = instructor.export(course, course / "grades.csv")
    with open(table) as f:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    assert float(rows[(A3, "partial")]["raw_score"]) == 9
    assert float(rows[(A3, "partial")]["max_score"]) == 20


def test_instructor_commands_reject_wrong_arguments(course, tmp_path):
    with pytest.raises(instructor.CourseError, match="No assignment 'a9'.*a1_layers_units"):
        instructor.autograde(course, "a9")
    with pytest.raises(instructor.CourseError, match="no nbgrader_config.py"):
        instructor.course_dir(tmp_path)


def test_release_fetch_submit_collect_through_an_exchange(course, tmp_path):
    """The README's hand-out and collection steps, with a private exchange."""
    exchange, student_home = tmp_path / "exchange", tmp_path / "student"
    exchange.mkdir()
    student_home.mkdir()
    where = f"--Exchange.root={exchange}"
    steps = [
        (course, ["release_assignment", A3, where]),
        (student_home, ["fetch_assignment", A3, "--course", "keras-ffnn", where]),
        (student_home, ["submit", A3, "--course", "keras-ffnn", where]),
        (course, ["collect", A3, where]),
    ]
    for folder, args in steps:
        result = instructor.nbgrader(folder, *args)
        assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{instructor.failure(result)}"
    fetched = student_home / A3 / f"{A3}.ipynb"
    assert fetched.read_text() == (ROOT / "assignments" / A3 / f"{A3}.ipynb").read_text()
    collected = list((course / "submitted").glob(f"*/{A3}/{A3}.ipynb"))
    assert any(path.read_text() == fetched.read_text() for path in collected), "the submission was not collected"
