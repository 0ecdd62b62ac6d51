"""The whole grading pipeline on real submissions, in a temporary copy of the
course directory with a real sqlite gradebook and real, sandboxed kernels.

Release: nbgrader regenerates exactly the committed assignments/, and nothing
of the solutions leaks into them. Validate: the solution passes, the blank
student version fails. Scores: on every assignment the solution, correct
solutions written differently, and plausible mistakes each get exactly their
expected score (each mistake charged once); on assignment 3 a class of
prepared submissions (blank, partly right, edited and deleted tests, endless
loops, a dying kernel, a memory bomb, broken JSON) is graded in one run.
Feedback never shows a hidden test.
"""

import copy
import csv
import html
import re
import shutil
from datetime import timedelta

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbgrader.utils import parse_utc
from nbgrader.validator import Validator
from traitlets.config.loader import PyFileConfigLoader

from conftest import ROOT
from dlcourse.host import backends
from dlcourse.host.grading import whole_class
from dlcourse.host.term import instructor
from dlcourse.host.course import Course
from dlcourse.host.grading.submission import MAX_PROCESSES, Limits
from submissions import (SOLUTION_MARK, cell_scores, expected_scores, fill, hidden_test_lines, max_scores,
                         new_course, open_gradebook, release_path, save_report, solution_code, solved, source_path,
                         student_version, submit, with_cell, without)

ASSIGNMENTS = Course.at(ROOT).assignments()
A1, A2, A3 = "a1_layers_units", "a2_dropout_l2", "a3_regression"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of the course directory whose gradebook knows every assignment."""
    return new_course(tmp_path_factory.mktemp("course"))


# -- Release -------------------------------------------------------------------

def test_release_reproduces_the_committed_assignments(course):
    for assignment in ASSIGNMENTS:
        generated = Course.at(course).release(assignment) / f"{assignment}.ipynb"
        committed = release_path(assignment)
        assert committed.exists(), f"assignments/{assignment} is missing: run `make release` and commit it."
        assert generated.read_text() == committed.read_text(), (
            f"assignments/{assignment} is out of date with solutions/{assignment}: run `make release` and commit it."
        )


def test_no_solution_or_hidden_test_reaches_the_students():
    for assignment in ASSIGNMENTS:
        source = source_path(assignment).read_text()
        released = nbformat.read(release_path(assignment), as_version=4)
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
@pytest.mark.parametrize("backend", backends.PACKAGES)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validate_passes_the_solution_and_fails_the_blank_version(assignment, backend, course, monkeypatch, tmp_path):
    # The validator runs in this process: drop the variable as nbgrader_environment() does for subprocesses.
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.setenv(backends.VARIABLE, backend)  # its kernel inherits the choice, as in a student's JupyterLab
    validator = Validator(config=PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config())
    # What a student validates: the student version (no hidden tests) with the solution typed in.
    answered = tmp_path / f"{assignment}.ipynb"
    nbformat.write(solved(assignment, **solution_code(assignment, "markdown")), answered)
    problems = validator.validate(str(answered))
    assert problems == {}, f"{assignment} on {backend}: nbgrader validate reports {problems}"
    blank = validator.validate(str(Course.at(course).release(assignment) / f"{assignment}.ipynb"))
    assert blank.get("failed"), f"{assignment} on {backend}: validate passed an unsolved student version"


# -- Correct answers written differently, and plausible mistakes ----------------

FUNCTIONAL_A1 = '''def build_network(hidden_units, activation="relu"):
    inputs = keras.Input(shape=(10000,))
    x = inputs
    for units in hidden_units:
        x = layers.Dense(units)(x)
        x = layers.Activation(activation)(x)
    outputs = layers.Dense(46, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.RMSprop(), loss=keras.losses.CategoricalCrossentropy(),
                  metrics=["accuracy"])
    return model'''

SEPARATE_ACTIVATION_A1 = '''def build_network(hidden_units, activation="relu"):
    model = keras.Sequential()
    for units in hidden_units:
        model.add(layers.Dense(units))
        model.add(layers.Activation(activation))
    model.add(layers.Dense(46))
    model.add(layers.Softmax())
    model.build((None, 10000))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model'''

IGNORES_BATCH_SIZE_A1 = '''def train_and_validate(model, epochs, batch_size=512):
    history = model.fit(partial_x_train, partial_y_train, epochs=epochs, batch_size=512,
                        validation_data=(x_val, y_val), verbose=0)
    return history.history'''

VALIDATES_ON_TRAIN_A1 = '''def train_and_validate(model, epochs, batch_size=512):
    history = model.fit(partial_x_train, partial_y_train, epochs=epochs, batch_size=batch_size,
                        validation_data=(partial_x_train, partial_y_train), verbose=0)
    return history.history'''

OBJECTS_A2 = '''def build_model(units=16, dropout_rate=0.0, regularizer=None):
    inputs = keras.Input(shape=(10000,))
    x = inputs
    for _ in range(2):
        x = layers.Dense(units, kernel_regularizer=regularizer)(x)
        x = layers.ReLU()(x)
        if dropout_rate:
            x = layers.Dropout(rate=dropout_rate)(x)
    model = keras.Model(inputs, layers.Dense(1, activation=keras.activations.sigmoid)(x))
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.001),
                  loss=keras.losses.BinaryCrossentropy(), metrics=["accuracy"])
    return model'''

ALWAYS_DROPOUT_A2 = '''def build_model(units=16, dropout_rate=0.0, regularizer=None):
    model = keras.Sequential([keras.Input(shape=(10000,))])
    for _ in range(2):
        model.add(layers.Dense(units, activation="relu", kernel_regularizer=regularizer))
        model.add(layers.Dropout(dropout_rate))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model'''

TQDM_K_FOLD_A3 = '''from tqdm.auto import tqdm


def k_fold_mae(data, targets, k, num_epochs, batch_size=16):
    n = len(data) // k
    histories = []
    for i in tqdm(range(k), desc="folds"):
        val_data, val_targets = data[i * n:(i + 1) * n], targets[i * n:(i + 1) * n]
        train_part = np.concatenate([data[:i * n], data[(i + 1) * n:]])
        train_targets_part = np.concatenate([targets[:i * n], targets[(i + 1) * n:]])
        train_part, val_data = normalize(train_part, val_data)
        model = build_model()
        history = model.fit(train_part, train_targets_part, validation_data=(val_data, val_targets),
                            epochs=num_epochs, batch_size=batch_size, verbose=0)
        histories.append(history.history["val_mae"])
    return np.array(histories)'''

PLAIN_K_FOLD_A3 = TQDM_K_FOLD_A3.replace("from tqdm.auto import tqdm\n\n\n", "").replace(
    "tqdm(range(k), desc=\"folds\")", "range(k)")

REUSES_MODEL_A3 = PLAIN_K_FOLD_A3.replace(
    "    histories = []\n", "    histories = []\n    model = build_model()\n").replace(
    "        model = build_model()\n", "")

IGNORES_BATCH_SIZE_A3 = PLAIN_K_FOLD_A3.replace(", batch_size=batch_size", "")

SMOOTHS_FIRST_A3 = '''def choose_epochs(maes, skip=10, factor=0.9):
    smoothed = []
    for point in np.mean(maes, axis=0):
        smoothed.append(smoothed[-1] * factor + point * (1 - factor) if smoothed else point)
    return int(np.argmin(smoothed[skip:])) + skip + 1'''

LEAKY_NORMALIZE_A3 = '''def normalize(train, other):
    return (train - train.mean(axis=0)) / train.std(axis=0), (other - other.mean(axis=0)) / other.std(axis=0)'''

IGNORES_ACTIVATION_A1 = '''def build_network(hidden_units, activation="relu"):
    model = keras.Sequential([keras.Input(shape=(10000,))])
    for units in hidden_units:
        model.add(layers.Dense(units, activation="relu"))
    model.add(layers.Dense(46, activation="softmax"))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model'''

NO_METRICS_A1 = IGNORES_ACTIVATION_A1.replace('activation="relu"))', "activation=activation))").replace(
    ', metrics=["accuracy"]', "")

OWN_MODEL_CLASS_A1 = '''class ReutersNet(keras.Sequential):
    """A network of my own: a Sequential model that can describe itself."""

    def describe(self):
        return " -> ".join(str(layer.units) for layer in self.layers)


def build_network(hidden_units, activation="relu"):
    model = ReutersNet([keras.Input(shape=(10000,))])
    for units in hidden_units:
        model.add(layers.Dense(units, activation=activation))
    model.add(layers.Dense(46, activation="softmax"))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model'''

KERAS_LOSS_FUNCTION_A1 = SEPARATE_ACTIVATION_A1.replace('loss="categorical_crossentropy"',
                                                        "loss=keras.losses.categorical_crossentropy")

EPOCH_FROM_ZERO_A1 = '''def summarize(history):
    return {"best_epoch": int(np.argmin(history["val_loss"])),
            "best_val_accuracy": float(max(history["val_accuracy"]))}'''

L1_L2_AS_L2_A2 = '''def make_regularizer(kind, factor=0.001):
    if kind is None:
        return None
    if kind == "l1":
        return regularizers.L1(factor)
    if kind in ("l2", "l1_l2"):
        return regularizers.L2(factor)
    raise ValueError(f"kind must be 'l1', 'l2', 'l1_l2' or None, not {kind!r}")'''

NO_DROPOUT_A2 = '''def build_model(units=16, dropout_rate=0.0, regularizer=None):
    model = keras.Sequential([keras.Input(shape=(10000,))])
    for _ in range(2):
        model.add(layers.Dense(units, activation="relu", kernel_regularizer=regularizer))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model'''

WITH_DROPOUT_A2 = NO_DROPOUT_A2.replace("kernel_regularizer=regularizer))\n", (
    "kernel_regularizer=regularizer))\n        if dropout_rate > 0:\n"
    "            model.add(layers.Dropout(dropout_rate))\n"))
REGULARIZES_OUTPUT_A2 = WITH_DROPOUT_A2.replace('activation="sigmoid"))',
                                                'activation="sigmoid", kernel_regularizer=regularizer))')
KERAS_LOSS_FUNCTION_A2 = WITH_DROPOUT_A2.replace('loss="binary_crossentropy"',
                                                 'loss=keras.losses.get("binary_crossentropy")')
ADAM_A2 = WITH_DROPOUT_A2.replace('optimizer="rmsprop"', 'optimizer="adam"')

RELU_OUTPUT_A3 = '''def build_model():
    model = keras.Sequential([keras.Input(shape=(13,)), layers.Dense(64, activation="relu"),
                              layers.Dense(64, activation="relu"), layers.Dense(1, activation="relu")])
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    return model'''

MAE_LOSS_A3 = RELU_OUTPUT_A3.replace('layers.Dense(1, activation="relu")', "layers.Dense(1)").replace(
    'loss="mse"', 'loss="mae"')

NO_NORMALIZE_A3 = REUSES_MODEL_A3.replace("    model = build_model()\n", "").replace(
    "        history = model.fit", "        model = build_model()\n        history = model.fit").replace(
    "        train_part, val_data = normalize(train_part, val_data)\n", "")

FORGETS_SKIP_A3 = '''def choose_epochs(maes, skip=10, factor=0.9):
    average = np.mean(maes, axis=0)[skip:]
    smoothed = []
    for point in average:
        smoothed.append(smoothed[-1] * factor + point * (1 - factor) if smoothed else point)
    return int(np.argmin(smoothed)) + 1'''

FIRST_FOLD_ONLY_A3 = FORGETS_SKIP_A3.replace("np.mean(maes, axis=0)[skip:]", "np.asarray(maes)[0][skip:]").replace(
    "int(np.argmin(smoothed)) + 1", "int(np.argmin(smoothed)) + skip + 1")

# One mistake at a time: student -> ({grade_id: code} on top of the solution, the tests that
# must fail). Correct answers written differently fail nothing; each mistake fails exactly
# the test that names its step, and costs that test's points only.
VARIANTS = {
    A1: {
        "solution": ({}, set()),
        "functional_api": ({"build_network": FUNCTIONAL_A1}, set()),
        "separate_activation": ({"build_network": SEPARATE_ACTIVATION_A1}, set()),
        "own_model_class": ({"build_network": OWN_MODEL_CLASS_A1}, set()),
        "ignores_activation": ({"build_network": IGNORES_ACTIVATION_A1}, {"test_build_network_any_layers"}),
        "forgets_the_metric": ({"build_network": NO_METRICS_A1}, {"test_build_network_compiled"}),
        "ignores_batch_size": ({"train_and_validate": IGNORES_BATCH_SIZE_A1}, {"test_train_and_validate"}),
        "validates_on_train": ({"train_and_validate": VALIDATES_ON_TRAIN_A1}, {"test_train_and_validate"}),
        "epoch_from_zero": ({"summarize": EPOCH_FROM_ZERO_A1}, {"test_summarize"}),
        "keras_loss_function": ({"build_network": KERAS_LOSS_FUNCTION_A1}, set()),
    },
    A2: {
        "solution": ({}, set()),
        "objects_and_functional": ({"build_model": OBJECTS_A2}, set()),
        "always_dropout": ({"build_model": ALWAYS_DROPOUT_A2}, {"test_build_model_baseline"}),
        "l1_l2_as_l2": ({"make_regularizer": L1_L2_AS_L2_A2}, {"test_make_regularizer_others"}),
        # Its chosen dropout is judged on the grader's network: the mistake costs Part 2 only.
        "never_drops_out": ({"build_model": NO_DROPOUT_A2}, {"test_build_model_dropout"}),
        "regularizes_the_output": ({"build_model": REGULARIZES_OUTPUT_A2}, {"test_build_model_regularizer"}),
        "adam": ({"build_model": ADAM_A2}, {"test_build_model_compiled"}),
        "chooses_l1": ({"chosen": 'chosen = {"regularizer": make_regularizer("l1", 0.001)}'}, {"test_chosen"}),
        "keras_loss_function": ({"build_model": KERAS_LOSS_FUNCTION_A2}, set()),
        "numpy_dropout_rate": ({"chosen": 'chosen = {"dropout_rate": np.float64(0.5)}'}, set()),
    },
    A3: {
        "solution": ({}, set()),
        "tqdm_progress_bar": ({"k_fold": TQDM_K_FOLD_A3}, set()),
        "reuses_one_model": ({"k_fold": REUSES_MODEL_A3}, {"test_k_fold_normalizes_per_fold"}),
        "smooths_before_skipping": ({"choose_epochs": SMOOTHS_FIRST_A3}, {"test_choose_epochs_smoothing"}),
        "leaky_normalize": ({"normalize": LEAKY_NORMALIZE_A3}, {"test_normalize_no_leak"}),
        "relu_output": ({"build_model": RELU_OUTPUT_A3}, {"test_build_model_layers"}),
        "mae_loss": ({"build_model": MAE_LOSS_A3}, {"test_build_model_compile"}),
        "never_normalizes_folds": ({"k_fold": NO_NORMALIZE_A3}, {"test_k_fold_normalizes_per_fold"}),
        "k_fold_ignores_batch_size": ({"k_fold": IGNORES_BATCH_SIZE_A3}, {"test_k_fold_normalizes_per_fold"}),
        "forgets_the_skipped_epochs": ({"choose_epochs": FORGETS_SKIP_A3}, {"test_choose_epochs_simple"}),
        "first_fold_only": ({"choose_epochs": FIRST_FOLD_ONLY_A3}, {"test_choose_epochs_smoothing"}),
        # A copy-pasted test cell, and a broken scratch notebook beside the real one (AS_SUBMITTED).
        "pastes_a_test_twice": ({}, set()),
        "stray_notebook": ({}, set()),
    },
}


def pasted_twice(notebook, grade_id):
    """The notebook with a copy of the cell ``grade_id`` (metadata and all) right after it, as a paste makes."""
    index = next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    notebook.cells.insert(index + 1, nbformat.from_dict(copy.deepcopy(notebook.cells[index])))
    notebook.cells[index + 1].id = "a-pasted-copy"
    return notebook


def with_a_broken_scratch_notebook(course, student, assignment):
    (Course.at(course).submitted(student, assignment) / "scratch.ipynb").write_text('{"cells": [')


AS_SUBMITTED = {   # (assignment, student) -> what the student's copy does to the notebook, or beside it
    (A3, "pastes_a_test_twice"): lambda course, notebook: submit(
        course, "pastes_a_test_twice", A3, pasted_twice(notebook, "test_normalize_train")),
    (A3, "stray_notebook"): lambda course, notebook: (
        submit(course, "stray_notebook", A3, notebook), with_a_broken_scratch_notebook(course, "stray_notebook", A3)),
}


# A model class whose fit reports a validation loss 0.5 below what the model reached, used
# only for the configuration it chooses (an L1 penalty, which does worse than the baseline).
LYING_A2 = '''class Confident(keras.Sequential):
    """Reports a validation loss 0.5 lower than the model reached."""

    def fit(self, *args, **kwargs):
        history = super().fit(*args, **kwargs)
        history.history["val_loss"] = [loss - 0.5 for loss in history.history["val_loss"]]
        return history


def build_model(units=16, dropout_rate=0.0, regularizer=None):
    model = (Confident if regularizer is not None else keras.Sequential)([keras.Input(shape=(10000,))])
    for _ in range(2):
        model.add(layers.Dense(units, activation="relu", kernel_regularizer=regularizer))
        if dropout_rate > 0:
            model.add(layers.Dropout(dropout_rate))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model'''


# Graded in the same class as the variants: student -> notebook.
ATTACKS_IN_THE_CLASS = {A2: {"lies_through_its_model_class": lambda: solved(
    A2, build_model=LYING_A2, chosen='chosen = {"regularizer": make_regularizer("l1", 0.001)}')}}


@pytest.fixture(scope="module")
def graded_variants(course):
    """Submit every variant of every assignment (and ATTACKS_IN_THE_CLASS) and
    autograde each assignment in one parallel run."""
    graded = {}
    for assignment, variants in VARIANTS.items():
        for student, (changes, _) in variants.items():
            special = AS_SUBMITTED.get((assignment, student))
            if special:
                special(course, solved(assignment, **changes))
                continue
            submit(course, student, assignment, solved(assignment, **changes))
        attacks = ATTACKS_IN_THE_CLASS.get(assignment, {})
        for student, notebook in attacks.items():
            submit(course, student, assignment, notebook())
        outcomes = whole_class.autograde_class(course, assignment, [*variants, *attacks], workers=2, progress=False)
        save_report(assignment, assignment, outcomes)
        graded[assignment] = {o.student: o for o in outcomes}
    return graded


@pytest.mark.slow
@pytest.mark.parametrize("assignment,student", [(a, s) for a, v in VARIANTS.items() for s in v])
def test_each_variant_gets_exactly_its_score(assignment, student, course, graded_variants):
    outcome = graded_variants[assignment][student]
    assert outcome.status == "graded", f"{student} was not graded cleanly: {outcome.status} {outcome.reasons}"
    failing = VARIANTS[assignment][student][1]
    assert cell_scores(course, assignment, student) == expected_scores(course, assignment, failing), (
        f"{assignment}/{student} should fail exactly {sorted(failing) or 'nothing'}")
    assert outcome.score == sum(expected_scores(course, assignment, failing).values())


@pytest.mark.slow
def test_a_model_class_that_lies_about_training_gains_nothing(course, graded_variants):
    liar = graded_variants[A2]["lies_through_its_model_class"]
    assert liar.status == "review", f"the lying class was not flagged: {liar}"
    assert any("defines Confident.fit" in reason for reason in liar.reasons), liar.reasons
    # Its choice is judged on the grader's own network: it fails as an honest L1 choice does.
    assert liar.earned == sum(expected_scores(course, A2, {"test_chosen"}).values()), (
        f"the lie earned points: {cell_scores(course, A2, liar.student)}")
    assert set(cell_scores(course, A2, liar.student).values()) == {0.0}


# -- The other backends ---------------------------------------------------------

# A student who replaces the grading helpers with ones that pass everything (tests/test_hostile_submissions.py).
PATCHES_THE_HELPERS = """from dlcourse import grading as helpers

helpers.check_layers = lambda *args, **kwargs: None
helpers.check_compiled = lambda *args, **kwargs: None
helpers.check_metric = lambda *args, **kwargs: None"""


@pytest.fixture(scope="module", params=[name for name in backends.PACKAGES if name != backends.DEFAULT])
def graded_on_another_backend(request, tmp_path_factory):
    """Each assignment's solution, and on assignment 3 a mistake and an attack,
    autograded (sandboxed, hidden tests included) on a backend other than the default."""
    backend = request.param
    course = new_course(tmp_path_factory.mktemp(f"course-{backend}"))
    classes = {assignment: {"solution": solved(assignment)} for assignment in ASSIGNMENTS}
    classes[A3]["mae_loss"] = solved(A3, **VARIANTS[A3]["mae_loss"][0])
    classes[A3]["patches_the_helpers"] = with_cell(student_version(A3), PATCHES_THE_HELPERS, "setup")
    graded = {}
    for assignment, submissions in classes.items():
        for student, notebook in submissions.items():
            submit(course, student, assignment, notebook)
        outcomes = whole_class.autograde_class(course, assignment, list(submissions), workers=2, progress=False,
                                               backend=backend)
        save_report(f"{assignment}-{backend}", assignment, outcomes)
        graded[assignment] = {o.student: o for o in outcomes}
    return backend, course, graded


@pytest.mark.slow
def test_the_tests_judge_the_same_on_another_backend(graded_on_another_backend):
    backend, course, graded = graded_on_another_backend
    for assignment in ASSIGNMENTS:
        solution = graded[assignment]["solution"]
        assert solution.status == "graded", f"{assignment} on {backend}: {solution.status} {solution.reasons}"
        assert cell_scores(course, assignment, "solution") == expected_scores(course, assignment), (
            f"{assignment}: the solution lost points on {backend}")
    failing = VARIANTS[A3]["mae_loss"][1]
    assert cell_scores(course, A3, "mae_loss") == expected_scores(course, A3, failing), (
        f"on {backend}, the MAE loss should fail exactly {sorted(failing)}")
    attack = graded[A3]["patches_the_helpers"]
    assert attack.status == "review" and attack.earned == 0, f"on {backend}: {attack}"
    assert set(cell_scores(course, A3, "patches_the_helpers").values()) == {0.0}


# -- A whole class on assignment 3 ---------------------------------------------

ENDLESS = "def choose_epochs(maes, skip=10, factor=0.9):\n    while True:\n        pass"
DEAF_ENDLESS = ("import signal\n\n\ndef choose_epochs(maes, skip=10, factor=0.9):\n"
                "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass")
MEMORY_BOMB = "import numpy as np\n\nhoard = [np.ones((1024, 1024, 128)) for _ in range(64)]  # 64 GB"
FORK_BOMB = "import subprocess\n\nkids = [subprocess.Popen(['sleep', '60']) for _ in range(500)]"
A3_CLASS_LIMITS = Limits(wall_seconds=150, memory_mb=4000, cell_seconds=20)


@pytest.fixture(scope="module")
def graded_class(course):
    """Submit a class of prepared notebooks for assignment 3 and autograde it in one run."""
    blank = student_version(A3)
    answers = solution_code(A3)
    submissions = {
        "blank": blank,
        "partial": fill(blank, {k: answers[k] for k in ("normalize", "choose_epochs")}),
        "edited_tests": fill(blank, {"test_build_model_layers": 'print("all tests passed")'}),
        "deleted_tests": without(solved(A3), {"test_normalize_train", "test_choose_epochs_smoothing"}),
        "crash": solved(A3, build_model="import os\nos._exit(1)"),
        "endless_loop": solved(A3, choose_epochs=ENDLESS),
        "ignores_interrupts": solved(A3, choose_epochs=DEAF_ENDLESS),
        "memory_bomb": solved(A3, build_model=MEMORY_BOMB),
        "fork_bomb": solved(A3, build_model=FORK_BOMB),
        "broken_json": '{"cells": [ {"cell_type": "code", ',
    }
    for student, notebook in submissions.items():
        submit(course, student, A3, notebook)
    outcomes = whole_class.autograde_class(course, A3, list(submissions), workers=2, limits=A3_CLASS_LIMITS,
                                           progress=False)
    save_report("a3_regression-class", A3, outcomes)
    return {o.student: o for o in outcomes}


def a3_failing_everything_but(course, passing):
    return expected_scores(course, A3, set(max_scores(course, A3)) - set(passing))


@pytest.mark.slow
def test_blank_and_partial_submissions_get_exactly_their_points(course, graded_class):
    assert graded_class["blank"].status == "graded"
    assert set(cell_scores(course, A3, "blank").values()) == {0}
    passing = {"test_normalize_train", "test_normalize_no_leak", "test_choose_epochs_simple",
               "test_choose_epochs_smoothing"}
    assert cell_scores(course, A3, "partial") == a3_failing_everything_but(course, passing)


@pytest.mark.slow
def test_edited_and_deleted_test_cells_are_graded_on_the_original_tests(course, graded_class):
    assert set(cell_scores(course, A3, "edited_tests").values()) == {0}, "an edited test cell was not restored"
    assert cell_scores(course, A3, "deleted_tests") == expected_scores(course, A3), "deleted tests were not re-added"


@pytest.mark.slow
def test_an_endless_loop_costs_its_cells_and_a_deaf_one_its_grade(course, graded_class):
    assert graded_class["endless_loop"].status == "graded", graded_class["endless_loop"].reasons
    assert cell_scores(course, A3, "endless_loop") == expected_scores(
        course, A3, {"test_choose_epochs_simple", "test_choose_epochs_smoothing"})
    deaf = graded_class["ignores_interrupts"]
    assert deaf.status == "not graded" and "did not stop when interrupted" in deaf.reasons[0], deaf.reasons
    assert deaf.seconds < A3_CLASS_LIMITS.wall_seconds, "a deaf loop held its worker past the wall-time limit"


@pytest.mark.slow
def test_a_dying_kernel_a_memory_bomb_and_broken_json_affect_only_that_student(course, graded_class):
    crash = graded_class["crash"]
    # The student's code is blamed, in the cell that killed the kernel (not the grading machine).
    assert crash.status == "not graded" and "kernel died while running cell" in crash.reasons[0], crash.reasons
    assert "(build_model), which starts `import os`" in crash.reasons[0], crash.reasons
    assert "grading machine" not in crash.reasons[0]
    bomb = graded_class["memory_bomb"]
    assert bomb.status == "not graded" and "memory limit of 4000 MB" in bomb.reasons[0], bomb.reasons
    forks = graded_class["fork_bomb"]
    assert forks.status == "not graded" and f"more than {MAX_PROCESSES} processes" in forks.reasons[0], (
        forks.reasons)
    broken = graded_class["broken_json"]
    assert broken.status == "not graded" and "invalid JSON" in broken.reasons[0] and "broken_json" in broken.reasons[0]
    assert (Course.at(course).submitted("broken_json", A3) / f"{A3}.ipynb").exists(), "the broken submission was lost"
    for student in ("blank", "partial", "edited_tests", "deleted_tests", "endless_loop"):
        assert graded_class[student].status == "graded", f"{student}: {graded_class[student].reasons}"


@pytest.mark.slow
def test_grading_again_gives_the_same_scores_and_keeps_hand_grades(course, graded_class):
    before = cell_scores(course, A3, "partial")
    with open_gradebook(course) as gradebook:
        gradebook.find_grade("written_answer", A3, A3, "partial").manual_score = 3
        gradebook.db.commit()
    skipped = whole_class.autograde_class(course, A3, ["partial"], workers=1, progress=False)
    assert [o.status for o in skipped] == ["skipped"], "an already graded student was graded again without --force"
    [again] = whole_class.autograde_class(course, A3, ["partial"], workers=1, force=True, progress=False)
    assert again.status == "graded" and cell_scores(course, A3, "partial") == before
    with open_gradebook(course) as gradebook:
        assert gradebook.find_grade("written_answer", A3, A3, "partial").manual_score == 3, "a hand grade was lost"


def _visible_text(html_text):
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


@pytest.mark.slow
def test_feedback_shows_no_hidden_test_and_grades_export(course, graded_class, graded_variants):
    files = instructor.feedback(course, A3)
    graded = {student for student, o in graded_class.items() if o.status == "graded"}
    assert {f.parent.parent.name for f in files} >= graded, "a graded student got no feedback"
    hidden = hidden_test_lines(A3)
    # The same check finds hidden tests in an HTML rendering of an autograded notebook, so it can fail.
    autograded = (Course.at(course).autograded("partial", A3) / f"{A3}.ipynb").read_text()
    rendered = _visible_text(HTMLExporter().from_notebook_node(nbformat.reads(autograded, as_version=4))[0])
    assert any(line in rendered for line in hidden), "the hidden-test check cannot see hidden tests in HTML"
    for path in files:
        text = _visible_text(path.read_text())
        leaked = [line for line in hidden if line in text]
        assert not leaked and "HIDDEN TESTS" not in text, f"{path} shows hidden tests: {leaked[:2]}"
    reused = _visible_text((Course.at(course).feedback("reuses_one_model", A3) / f"{A3}.html").read_text())
    assert "Build a fresh model with build_model() for every fold" in reused, (
        "a failed hidden test's message is missing from the feedback")

    # Graded again after a hand grade, the written answer awaits the instructor's
    # look (nbgrader's rule): exported empty, never as 0, until confirmed.
    def exported():
        table = instructor.export_csv(course, course / "grades.csv")
        with open(table) as f:
            return {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}[(A3, "partial")]

    with open_gradebook(course) as gradebook:
        waiting = gradebook.find_grade("written_answer", A3, A3, "partial").needs_manual_grade
    row = exported()
    assert row["needs_manual_grade"] == str(waiting) and (row["raw_score"] == "") == waiting, row
    with open_gradebook(course) as gradebook:   # the instructor confirms it, as the formgrader does
        gradebook.find_grade("written_answer", A3, A3, "partial").needs_manual_grade = False
        gradebook.db.commit()
    row = exported()
    assert row["needs_manual_grade"] == "False", row
    assert float(row["raw_score"]) == sum(cell_scores(course, A3, "partial").values()) + 3


def test_instructor_commands_reject_wrong_arguments(course, tmp_path):
    with pytest.raises(instructor.CourseError, match="No assignment 'a9'.*a1_layers_units"):
        whole_class.autograde_class(course, "a9")
    with pytest.raises(instructor.CourseError, match="nobody has no submission of a1_layers_units"):
        whole_class.autograde_class(course, A1, ["nobody"], workers=1, progress=False)
    with pytest.raises(instructor.CourseError, match="no nbgrader_config.py"):
        Course.at(tmp_path)
    ungraded = tmp_path / "ungraded"  # the course's configuration and sources, nothing graded
    shutil.copytree(Course.at(ROOT).source(), ungraded / Course.at(ROOT).source().relative_to(ROOT))
    shutil.copy(Course.at(ROOT).config_path, ungraded)
    with pytest.raises(instructor.CourseError, match=f"No submission of {A2} is autograded yet.*make autograde A={A2}"):
        instructor.feedback(ungraded, A2)


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
    assert fetched.read_text() == release_path(A3).read_text()
    collected = list(Course.at(course).submitted().glob(f"*/{A3}/{A3}.ipynb"))
    assert any(path.read_text() == fetched.read_text() for path in collected), "the submission was not collected"


def test_release_sets_the_due_dates_and_late_submissions_show_as_late(course):
    """The due dates of nbgrader_config.py reach the gradebook, and a submission
    collected after its due date is late once graded (on time one is not)."""
    dates = instructor.due_dates(course)
    with open_gradebook(course) as gradebook:
        for assignment in ASSIGNMENTS:
            assert gradebook.find_assignment(assignment).duedate == parse_utc(dates[assignment])
    due = parse_utc(dates[A1])
    for student, when in (("on_time", due - timedelta(hours=1)), ("late", due + timedelta(hours=5))):
        submit(course, student, A1, student_version(A1))
        (Course.at(course).submitted(student, A1) / "timestamp.txt").write_text(f"{when:%Y-%m-%d %H:%M:%S.%f} UTC")
    whole_class.autograde_class(course, A1, ["on_time", "late"], workers=2, progress=False)
    with open_gradebook(course) as gradebook:
        late = {s: gradebook.find_submission(A1, s).total_seconds_late for s in ("on_time", "late")}
    assert late == {"on_time": 0, "late": 5 * 3600}, f"seconds late: {late}"
