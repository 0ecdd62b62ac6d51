"""nbgrader configuration for students: what Validate uses.

The student edition carries this file as its nbgrader_config.py; the
instructor's nbgrader_config.py loads it first, so students validate with the
same kernel, cell time limit and ignored warnings as the grader.
"""

from pathlib import Path

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.CourseDirectory.course_id = "keras-ffnn"

# Notebooks run in the course's kernel (dlcourse/jupyter.py: this
# environment's ipykernel, TensorFlow's C++ log silenced), whatever a
# notebook's metadata says. `make autograde` runs the same kernel inside its
# sandbox.
c.Execute.kernel_name = "dlcourse"
# The time limit of one cell, for Validate and for grading alike. Cells train
# small models on 2 CPU cores; no graded cell should need more than a minute,
# so 300 s leaves room while still stopping an endless loop.
c.Execute.timeout = 300

# The course's kernel keeps TensorFlow's C++ log out of every notebook. What
# is left on stderr that is not an error: TensorFlow's retracing notices and
# Keras's style warnings (such as passing `input_shape` to a layer). nbgrader
# gives 0 points to a test cell with any stderr output, so drop stderr
# outputs that hold these lines. (`nbgrader validate` ignores this setting,
# so the assignments also hide the retracing notices in their setup cell.)
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"(?m)^(WARNING:tensorflow:.*triggered tf\.function retracing"
    r"|\S*/keras/src/\S+\.py:\d+: UserWarning: )"
)

# A student who deletes a test cell gets it back, graded on the original test.
c.OverwriteCells.add_missing_cells = True
