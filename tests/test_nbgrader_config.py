"""nbgrader_config.py, loaded explicitly (NbGraderAPI does not read it by itself)."""

import os

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.preprocessors import IgnorePattern
from traitlets.config.loader import PyFileConfigLoader

from conftest import ROOT


def load_config():
    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


def test_the_root_is_the_course_directory():
    config = load_config()
    assert config.CourseDirectory.root == str(ROOT)
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "assignments"
    assert config.OverwriteCells.add_missing_cells is True
    assert config.Execute.kernel_name == "python3"
    assert 120 <= config.Execute.timeout <= 600, "cells train models on 2 cores, yet an endless loop must stop"


def test_tensorflow_logs_do_not_zero_a_passing_cell():
    """Run a real kernel that starts TensorFlow, then apply the configured IgnorePattern."""
    nb = new_notebook(cells=[
        new_code_cell("import keras\nprint(keras.layers.Dense(2)(keras.ops.ones((1, 3))).shape)"),
        new_code_cell("import sys\nprint('a real warning from the student code', file=sys.stderr)"),
        new_code_cell("layer = keras.layers.Dense(2, input_shape=(3,))  # Keras warns about the style"),
    ])
    # ipykernel does not capture the kernel's stderr under pytest; grade as nbgrader would.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    NotebookClient(nb, timeout=120, kernel_name="python3").execute(env=env)
    first, second, third = nb.cells
    assert any(o.get("name") == "stderr" for o in first.outputs), (
        "TensorFlow printed nothing on stderr, so this test no longer shows that the pattern works"
    )
    assert any(o.get("name") == "stderr" for o in third.outputs), "Keras no longer warns here; pick another warning"
    ignore = IgnorePattern(config=load_config())
    assert ignore.enabled
    for index, cell in enumerate(nb.cells):
        ignore.preprocess_cell(cell, {}, index)
    assert [o.get("name") for o in first.outputs] == ["stdout"], "TensorFlow's stderr logs were kept"
    assert [o.get("name") for o in second.outputs] == ["stderr"], "a real stderr output was dropped"
    assert third.outputs == [], "Keras's UserWarning about input_shape was kept; it would zero a correct answer"
