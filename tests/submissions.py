"""Building submissions for the grading tests, and reading their scores.

A submission is the committed student version with some cells' sources
replaced: by the solution's code, by a typical mistake, or by an attack.
Expected scores are derived from the gradebook's maximum scores and the test
cells that should fail, never written down as totals.
"""

import re
import shutil

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output, new_raw_cell
from nbgrader.api import Gradebook

from conftest import ROOT
from dlcourse.host.grading import whole_class
from dlcourse.host.term import instructor
from dlcourse.host.course import Course


def html_attacks():
    """Fresh cells, one for each way a student's script (or a page takeover) could run when the formgrader,
    feedback or JupyterLab renders it; fresh because the cleaning under test changes cells in place."""
    return {
        "markdown script": new_markdown_cell(
            "My answer.\n\n<script>fetch('/api/contents/x', {method: 'PUT'})</script>"),
        "event handler": new_markdown_cell('Deeper nets overfit. <img src="x" onerror="window.pwned = 1">'),
        "javascript link": new_markdown_cell("[see my plot](javascript:window.pwned=1)"),
        "reference link": new_markdown_cell("[plot][1]\n\n[1]: javascript:window.pwned=1"),
        "frame": new_markdown_cell('<iframe srcdoc="<script>parent.pwned=1</script>"></iframe>'),
        "svg": new_markdown_cell('<svg onload="window.pwned=1"><circle r="4"/></svg>'),
        "form": new_markdown_cell(
            '<form action="/hub/api/users"><button formaction="javascript:x()">Go</button></form>'),
        "raw cell": new_raw_cell("<script>window.pwned = 1</script>"),
        "html output": new_code_cell("display(HTML(...))", outputs=[new_output(
            "display_data", data={
                "text/html": '<b onmouseover="window.pwned=1">hover</b><script>window.pwned=1</script>',
                "text/plain": "<IPython.core.display.HTML object>"})]),
        "javascript output": new_code_cell("Javascript(...)", outputs=[new_output(
            "display_data", data={"application/javascript": "window.pwned = 1"})]),
        "svg output": new_code_cell("SVG(...)", outputs=[new_output(
            "display_data", data={"image/svg+xml": '<svg><script>window.pwned=1</script></svg>'})]),
        "html widget output": new_code_cell("w", outputs=[new_output(
            "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                                  "text/html": "<script>window.pwned = 1</script>"})]),
        "markdown output": new_code_cell("Markdown(...)", outputs=[new_output(
            "execute_result", data={"text/markdown": "<script>window.pwned=1</script>"}, execution_count=1)]),
    }


SOLUTION_MARK = re.compile(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)")
COURSE = Course.at(ROOT)


def source_path(assignment):
    """The assignment's source notebook (with solutions and hidden tests) in the repository."""
    return COURSE.source(assignment) / f"{assignment}.ipynb"


def release_path(assignment):
    """The assignment's committed student version."""
    return COURSE.release(assignment) / f"{assignment}.ipynb"


def open_gradebook(course):
    """nbgrader's Gradebook of ``course`` (a folder), to use in a with statement."""
    return Gradebook(Course.at(course).gradebook_url)


def student_version(assignment):
    return nbformat.read(release_path(assignment), as_version=4)


def solution_code(assignment, cell_type="code"):
    """Return {grade_id: source} of the solution's code cells (or markdown
    answers, with ``cell_type="markdown"``), without the markers."""
    source = nbformat.read(source_path(assignment), as_version=4)
    return {c.metadata.nbgrader["grade_id"]: "\n".join(l for l in c.source.splitlines() if not SOLUTION_MARK.search(l))
            for c in source.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == cell_type}


def hidden_test_lines(assignment, min_length=20):
    """Return the distinctive lines of the assignment's hidden tests: those
    that appear nowhere else in the source notebook."""
    source = nbformat.read(source_path(assignment), as_version=4)
    hidden, elsewhere, inside = set(), set(), False
    for cell in source.cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            else:
                (hidden if inside else elsewhere).add(line.strip())
    return {line for line in hidden - elsewhere if len(line) >= min_length}


def fill(notebook, answers):
    """Return a copy of ``notebook`` with these cells' sources replaced."""
    notebook = nbformat.from_dict(notebook)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


def solved(assignment, **changes):
    """The student version with the solution filled in, and ``changes``
    ({grade_id: source}) on top."""
    return fill(student_version(assignment), {**solution_code(assignment), **changes})


def with_cell(notebook, source, after):
    """Return a copy with a new student code cell after the cell ``after``."""
    notebook = nbformat.from_dict(notebook)
    index = next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after)
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return notebook


def without(notebook, grade_ids):
    notebook = nbformat.from_dict(notebook)
    notebook.cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in grade_ids]
    return notebook


def submit(course, student, assignment, notebook):
    folder = Course.at(course).submitted(student, assignment)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if isinstance(notebook, str):
        (folder / f"{assignment}.ipynb").write_text(notebook)
    else:
        nbformat.write(notebook, folder / f"{assignment}.ipynb")


def new_course(path):
    """A copy of the course directory at ``path`` whose gradebook knows every assignment."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", path)
    shutil.copytree(COURSE.source(), path / COURSE.source().relative_to(ROOT))
    instructor.release(path)
    return path


def cell_scores(course, assignment, student):
    """Return {grade_id: autograded score} of the code test cells of a graded submission."""
    with open_gradebook(course) as book:
        notebook = book.find_submission_notebook(assignment, assignment, student)
        return {g.name: g.auto_score for g in notebook.grades if g.cell.cell_type == "code"}


def max_scores(course, assignment):
    """Return {grade_id: points} of the assignment's autograded test cells."""
    with open_gradebook(course) as book:
        return {c.name: c.max_score for c in book.find_notebook(assignment, assignment).grade_cells
                if c.cell_type == "code"}


def expected_scores(course, assignment, failing=()):
    """The scores of a submission that fails exactly the tests ``failing``."""
    return {k: (0.0 if k in failing else v) for k, v in max_scores(course, assignment).items()}


def save_report(name, assignment, outcomes):
    """Keep the autograde table (scores, time and memory per submission) in build/."""
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / f"autograde-{name}.md").write_text(whole_class.format_table(assignment, outcomes) + "\n")
