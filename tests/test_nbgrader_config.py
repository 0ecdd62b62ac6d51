"""nbgrader_config.py, loaded explicitly (NbGraderAPI does not read it by itself)."""

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.preprocessors import IgnorePattern
from traitlets.config.loader import PyFileConfigLoader

from conftest import ROOT
from dlcourse import jupyter
from dlcourse.host.nbgrader_process import nbgrader_environment


def load_config():
    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


def test_the_root_is_the_course_directory():
    config = load_config()
    assert config.CourseDirectory.root == str(ROOT)
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "assignments"
    assert config.OverwriteCells.add_missing_cells is True
    assert config.Execute.kernel_name == jupyter.KERNEL_NAME
    assert 120 <= config.Execute.timeout <= 600, "cells train models on 2 cores, yet an endless loop must stop"


TENSORFLOW_CELL = "import keras\nm = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])\nm.summary()"


def run(kernel_name, *sources):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    NotebookClient(nb, timeout=120, kernel_name=kernel_name).execute(env=nbgrader_environment())
    return nb.cells


def stderr(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")


def test_the_course_kernel_keeps_tensorflow_quiet():
    """Starting TensorFlow prints CUDA and CPU-feature lines on stderr in a
    plain kernel (so this test can fail), and nothing in the course's kernel."""
    (plain,) = run("python3", TENSORFLOW_CELL)
    assert stderr(plain), "TensorFlow printed nothing in a plain kernel, so this test no longer shows anything"
    (course,) = run(jupyter.KERNEL_NAME, TENSORFLOW_CELL)
    assert stderr(course) == "", f"the course's kernel let TensorFlow's log through:\n{stderr(course)}"


def test_warnings_that_are_not_errors_do_not_zero_a_passing_cell():
    """A Keras style warning is dropped by the configured IgnorePattern; a real stderr output is kept."""
    real, style = run(jupyter.KERNEL_NAME,
                      "import sys\nprint('a real warning from the student code', file=sys.stderr)",
                      "import keras\nlayer = keras.layers.Dense(2, input_shape=(3,))  # Keras warns about the style")
    assert stderr(style), "Keras no longer warns here; pick another warning"
    ignore = IgnorePattern(config=load_config())
    assert ignore.enabled
    for index, cell in enumerate((real, style)):
        ignore.preprocess_cell(cell, {}, index)
    assert [o.get("name") for o in real.outputs] == ["stderr"], "a real stderr output was dropped"
    assert style.outputs == [], "Keras's UserWarning about input_shape was kept; it would zero a correct answer"
