"""Host side: the trusted merge of one graded submission into the course.

Only the instructor's process runs this. From a worker's :class:`~dlcourse.host.grading.submission.SubmissionResult` it
takes the autograded notebook (whose test cells hold the judge's outputs:
:mod:`dlcourse.host.grading.judge`), caps its outputs, scores each autograded test
cell from those outputs (full points unless the cell raised an error;
output on stderr, such as a progress bar or a warning, costs nothing), scans
the student's cells for tampering, makes every student-made HTML inert
(:mod:`dlcourse.host.grading.inert`), and writes the course: the autograded
notebook, and in the gradebook the ``auto_score`` of this student's cells of
this assignment. Manual scores, comments and other students' rows are never
touched. A flagged submission is stored with 0 autograded points and needs
review; ``clear`` gives it the scores it earned.
"""

import json
import shutil
import warnings
from dataclasses import dataclass, field

import nbformat
from nbgrader import utils as nbgrader_utils
from nbgrader.api import Gradebook

from . import cheats, inert
from ..course import Course
from ..status import Status
from ..errors import printable

MAX_OUTPUT_LINES = 200
MAX_OUTPUT_BYTES = 20_000
MAX_RICH_BYTES = 50 * MAX_OUTPUT_BYTES   # an image or other rich output, or a cell's attachment, kept whole up to this
FLOOD_BYTES = 1_000_000   # one cell printing more than this is flagged for review
REVIEW_FILE = "review.json"


@dataclass
class Merged:
    """One student's autograded outcome, as shown in the autograde table."""
    student: str
    status: Status
    score: float | None = None         # autograded points counted in the gradebook
    max_score: float | None = None     # autograded points available
    earned: float | None = None        # autograded points earned, counted or not
    reasons: list = field(default_factory=list)
    seconds: float = 0.0
    peak_mb: float = 0.0
    worker: str = ""


def _cut_text(text, what):
    lines = text.splitlines(keepends=True)
    cut = "".join(lines[:MAX_OUTPUT_LINES])
    if len(cut.encode()) > MAX_OUTPUT_BYTES:
        cut = cut.encode()[:MAX_OUTPUT_BYTES].decode(errors="ignore")
    if cut != text:
        cut += (f"\n... [{what} cut here: {len(lines)} lines, {len(text.encode()):,} bytes in all; "
                f"kept at most {MAX_OUTPUT_LINES} lines and {MAX_OUTPUT_BYTES:,} bytes] ...\n")
    return cut


def floods(notebook):
    """Return a reason for each cell whose outputs exceed FLOOD_BYTES."""
    reasons = []
    for number, cell in enumerate(notebook.cells, start=1):
        size = len(json.dumps(cell.get("outputs", [])).encode())
        if cell.cell_type == "code" and size > FLOOD_BYTES:
            reasons.append(f"cell {number} wrote {size / 1e6:.0f} MB of output (kept the first "
                           f"{MAX_OUTPUT_BYTES:,} bytes)")
    return reasons


def _cap_attachments(cell):
    """Replace each attachment of ``cell`` larger than MAX_RICH_BYTES with a note of its size."""
    for name, bundle in list(cell.get("attachments", {}).items()):
        size = len(json.dumps(bundle).encode())
        if size > MAX_RICH_BYTES:
            cell.attachments[name] = {"text/plain": f"[attachment {name} of {size:,} bytes not kept]"}


def cap_outputs(notebook):
    """Cap every code cell's stored outputs in place (lines and bytes per
    output, with a note where it was cut), and every cell's attachments;
    return the notebook."""
    for cell in notebook.cells:
        _cap_attachments(cell)
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.output_type == "stream":
                output.text = _cut_text(output.text, "output")
            elif output.output_type == "error":
                output.evalue = _cut_text(output.evalue, "error message")
                output.traceback = [_cut_text("\n".join(output.traceback), "traceback")]
            else:
                data = output.get("data", {})
                for mime, value in list(data.items()):
                    text = value if isinstance(value, str) else json.dumps(value)
                    if len(text.encode()) > MAX_RICH_BYTES:
                        data.pop(mime)
                        data.setdefault("text/plain", f"[{mime} output of {len(text):,} bytes not kept]")
                    elif mime == "text/plain" or mime == "text/html":
                        data[mime] = _cut_text(text, "output")
    return notebook


def is_test_cell(cell):
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def cell_score(cell, points):
    """Autograded score of a cell: a test cell gets its points unless it
    raised an error; a graded answer cell gets 0 if left unchanged, else None
    (graded by hand)."""
    if is_test_cell(cell):
        return 0.0 if any(o.output_type == "error" for o in cell.outputs) else float(points)
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("solution") and meta.get("checksum") == nbgrader_utils.compute_checksum(cell):
        return 0.0
    return None


def earned_scores(notebook, max_scores):
    """Return {grade_id: autograded score} for the gradebook's grade cells
    ``max_scores`` ({grade_id: points}); a grade cell missing from the
    notebook scores 0."""
    cells = {}
    for cell in notebook.cells:   # the first cell of a grade id, as the judge reads it
        cells.setdefault(cell.metadata.get("nbgrader", {}).get("grade_id"), cell)
    return {grade_id: (cell_score(cells[grade_id], points) if grade_id in cells else 0.0)
            for grade_id, points in max_scores.items()}


def _score(books, result):
    """Score the result's notebooks against the gradebook's notebooks ``books``.
    Return (capped notebooks, earned scores, review reasons, autograded points
    available) per notebook name, or a string saying what is missing."""
    notebooks, earned, reasons, test_points = {}, {}, [], 0.0
    for book in books:
        if book.name not in result.notebooks:
            return f"no autograded notebook {book.name}.ipynb came back from grading"
        executed = nbformat.reads(result.notebooks[book.name], as_version=4)
        reasons += floods(executed)
        notebooks[book.name] = cap_outputs(executed)
        earned[book.name] = earned_scores(notebooks[book.name], {c.name: c.max_score for c in book.grade_cells})
        test_points += sum(c.max_score for c in book.grade_cells if c.cell_type == "code")
        locked = {cell.name: cell.source for cell in book.source_cells if cell.locked}
        reasons += cheats.scan_notebook(notebooks[book.name], locked)
        reasons += inert.make_inert(notebooks[book.name])
    return notebooks, earned, reasons, test_points


def _register(url, assignment, student, timestamp):
    with Gradebook(url) as gradebook, warnings.catch_warnings():
        # nbgrader's update_or_create_submission autoflushes while it builds the
        # new rows and SQLAlchemy warns; the rows are added and committed right after.
        warnings.filterwarnings("ignore", message=".*not in session, add operation along")
        gradebook.update_or_create_student(student)
        extra = {"timestamp": timestamp} if timestamp else {}
        gradebook.update_or_create_submission(assignment, student, **extra)


def _copy_submitted_files(submitted, folder):
    """Copy the submission's other files (nbgrader's timestamp.txt and
    submission_secret.txt, which feedback release needs, and the student's
    own files) into the autograded folder, as nbgrader's autograde does:
    regular files only, never a link, never a notebook (those are graded)."""
    for path in sorted(submitted.rglob("*")):
        parts = path.relative_to(submitted).parts
        through_a_link = any((submitted.joinpath(*parts[:i])).is_symlink() for i in range(1, len(parts) + 1))
        if through_a_link or not path.is_file() or path.suffix == ".ipynb" or path.name == REVIEW_FILE:
            continue
        target = folder.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target, follow_symlinks=False)


def _write_files(folder, notebooks, reasons, earned):
    """Write the autograded notebooks, and the review note when flagged. The
    notebooks are written last: their presence marks a finished merge."""
    folder.mkdir(parents=True, exist_ok=True)
    review = folder / REVIEW_FILE
    if reasons:
        review.write_text(json.dumps({"reasons": reasons, "earned": earned}, indent=1))
    elif review.exists():
        review.unlink()
    for name, notebook in notebooks.items():
        nbformat.write(notebook, folder / f"{name}.ipynb")


def merge(course, assignment, result, timestamp=None):
    """Merge a worker's SubmissionResult into the course; return a :class:`Merged`."""
    outcome = Merged(result.student, Status.NOT_GRADED, seconds=result.seconds, peak_mb=result.peak_mb,
                     worker=result.worker)
    if result.error:
        outcome.reasons = [printable(reason) for reason in [result.error] + result.flags]
        return outcome
    layout = Course.at(course)
    url = layout.gradebook_url
    with Gradebook(url) as gradebook:
        scored = _score(gradebook.find_assignment(assignment).notebooks, result)
    if isinstance(scored, str):
        outcome.reasons = [scored]
        return outcome
    notebooks, earned, reasons, test_points = scored
    reasons = sorted({printable(reason) for reason in reasons + result.flags})
    _register(url, assignment, result.student, timestamp)
    with Gradebook(url) as gradebook:
        _write_scores(gradebook, assignment, result.student, earned, flagged=bool(reasons))
    _copy_submitted_files(layout.submitted(result.student, assignment), layout.autograded(result.student, assignment))
    _write_files(layout.autograded(result.student, assignment), notebooks, reasons, earned)
    total = sum(v for scores in earned.values() for v in scores.values() if v is not None)
    outcome.status, outcome.score = (Status.REVIEW, 0.0) if reasons else (Status.GRADED, total)
    outcome.max_score, outcome.earned, outcome.reasons = test_points, total, reasons
    return outcome


def _write_scores(gradebook, assignment, student, earned, flagged):
    for notebook, scores in earned.items():
        submitted = gradebook.find_submission_notebook(notebook, assignment, student)
        for grade in submitted.grades:
            score = scores.get(grade.name)
            grade.auto_score = 0.0 if (flagged and score is not None) else score
            grade.needs_manual_grade = flagged or grade.manual_score is not None or grade.auto_score is None
    gradebook.db.commit()


def clear_review(course, assignment, student):
    """Count a reviewed submission's autograded points after all; return the
    total now counted.

    Raises:
        FileNotFoundError: the submission is not waiting for review.
    """
    layout = Course.at(course)
    review = layout.autograded(student, assignment) / REVIEW_FILE
    if not review.exists():
        raise FileNotFoundError(f"{student}'s {assignment} is not waiting for review (no {review}).")
    earned = json.loads(review.read_text())["earned"]
    with Gradebook(layout.gradebook_url) as gradebook:
        _write_scores(gradebook, assignment, student, earned, flagged=False)
    review.rename(review.with_name("review-cleared.json"))
    return sum(v for scores in earned.values() for v in scores.values() if v is not None)
