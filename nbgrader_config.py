"""nbgrader configuration: the repository root is the course directory.

`solutions/<assignment>/` holds the source notebooks (with solutions and
hidden tests); `nbgrader generate_assignment` writes the student versions to
`assignments/<assignment>/`. What students need too (course id, kernel, the
cell time limit, ignored warnings) is in the student edition's own
configuration, loaded first.
"""

from pathlib import Path

from dlcourse.host.term.edition import STUDENT_CONFIG

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file
load_subconfig(str(STUDENT_CONFIG))  # noqa: F821 -- dlcourse/host/term/student/nbgrader_config.py

ROOT = Path(__file__).resolve().parent
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# The gradebook lives in a folder of its own (made here, before nbgrader opens
# it), so that on a hub the staff can write it, and SQLite its journal beside
# it, while the course's top level and its code stay root's (docs/hub.md).
GRADEBOOK = ROOT / "gradebook"
GRADEBOOK.mkdir(exist_ok=True)
c.CourseDirectory.db_url = f"sqlite:///{GRADEBOOK / 'gradebook.db'}"

# The limits of one submission in `make autograde` and the formgrader's
# Autograde button (the cell limit is c.Execute.timeout, in the students'
# part). The command line's --wall-seconds and --memory-mb override them.
c.Course.submission_seconds = 600     # the whole notebook, start to end
c.Course.submission_memory_mb = 6000  # the kernel and nbgrader together (resident memory)

# Due dates, set here and nowhere else. `make release` writes them into the
# gradebook, so the formgrader shows them and marks later submissions as late.
c.Course.due_dates = {
    "a1_layers_units": "2027-01-11 23:59:00 UTC",
    "a2_dropout_l2": "2027-01-25 23:59:00 UTC",
    "a3_regression": "2027-02-08 23:59:00 UTC",
}

# Late submissions lose this fraction of the assignment's points per started
# day after the due date (never below zero), in every grade export
# (dlcourse/host/term/lms.py). 0 turns the rule off.
c.Course.late_penalty_per_day = 0.10

# nbgrader's CSV export (make grades), with submissions still to be graded by
# hand left empty rather than exported with 0 for their written answers, and
# the file readable by the staff only (dlcourse/host/term/lms.py).
c.ExportApp.plugin_class = "dlcourse.host.term.lms.CsvExport"

# A copy of a test cell, or a student's cell that claims a grade id the
# gradebook does not know, no longer stops that student's autograde
# (dlcourse/host/extensions/overwrite.py): it is graded as a cell of the student's.
from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteKernelspec  # noqa: E402

from dlcourse.host.extensions.overwrite import OverwriteCells  # noqa: E402

c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                                      CheckCellMetadata]

# Feedback shows each hidden test cell's score and failure message, never the
# hidden tests' code (dlcourse/host/extensions/feedback.py), so they can be used again.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from dlcourse.host.extensions.feedback import HideHiddenTests, InertFeedbackExporter  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
# The feedback page runs only its template's own scripts, whatever a student's
# cell holds (a Content-Security-Policy in its <head>: dlcourse/host/extensions/script_policy.py).
c.GenerateFeedback.exporter_class = InertFeedbackExporter
