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

# Grading runs every notebook in this kernel, whatever the submission's
# metadata says; `python3` is the ipykernel of the environment nbgrader runs in.
c.Execute.kernel_name = "python3"
# Cells train small models on 2 CPU cores; no graded cell should need more
# than a minute, so 300 s leaves room while still stopping an endless loop.
c.Execute.timeout = 300

# TensorFlow and Keras write log lines to stderr (CUDA probing, CPU features,
# retracing notices, Keras's style warnings such as passing `input_shape` to a
# layer). nbgrader gives 0 points to a test cell with any stderr output, so
# drop stderr outputs that hold these lines. (The assignments also start
# TensorFlow in their setup cell, because `nbgrader validate` ignores this.)
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"(?m)^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] (tensorflow|external)/"
    r"|[IWEF]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog"
    r"|To enable the following instructions: "
    r"|WARNING:tensorflow:.*triggered tf\.function retracing"
    r"|\S*/keras/src/\S+\.py:\d+: UserWarning: )"
)

# A student who deletes a test cell gets it back, graded on the original test.
c.OverwriteCells.add_missing_cells = True

# Feedback shows each hidden test cell's score and failure message, never the
# hidden tests' code (dlcourse/host/feedback.py), so they can be used again.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from dlcourse.host.feedback import HideHiddenTests  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
