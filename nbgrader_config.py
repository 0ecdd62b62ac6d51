"""nbgrader configuration: the repository root is the course directory.

`solutions/<assignment>/` holds the source notebooks (with solutions and
hidden tests); `nbgrader generate_assignment` writes the student versions to
`assignments/<assignment>/`.
"""

from pathlib import Path

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.CourseDirectory.course_id = "keras-ffnn"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# Grading runs every notebook in the course's kernel (dlcourse/jupyter.py:
# this environment's ipykernel, TensorFlow's C++ log silenced), whatever the
# submission's metadata says.
c.Execute.kernel_name = "dlcourse"
# Cells train small models on 2 CPU cores; no graded cell should need more
# than a minute, so 300 s leaves room while still stopping an endless loop.
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

# --- instructor only below: the student edition's nbgrader_config.py ends here ---

# Due dates, set here and nowhere else. `make release` writes them into the
# gradebook, so the formgrader shows them and marks later submissions as late.
c.Course.due_dates = {
    "a1_layers_units": "2027-01-11 23:59:00 UTC",
    "a2_dropout_l2": "2027-01-25 23:59:00 UTC",
    "a3_regression": "2027-02-08 23:59:00 UTC",
}

# Late submissions lose this fraction of the assignment's points per started
# day after the due date (never below zero), in every grade export
# (dlcourse/host/grades.py). 0 turns the rule off.
c.Course.late_penalty_per_day = 0.10

# Feedback shows each hidden test cell's score and failure message, never the
# hidden tests' code (dlcourse/host/feedback.py), so they can be used again.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from dlcourse.host.feedback import HideHiddenTests  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
