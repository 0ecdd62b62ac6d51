"""Host side: what students see of their graded notebook.

:class:`HideHiddenTests` is an nbgrader preprocessor for ``generate_feedback``
(set in ``nbgrader_config.py``). In a cell with hidden tests, the feedback
keeps the visible tests, the cell's score and its failure message, and drops
the hidden tests' source and the traceback lines that would quote it.

:class:`InertFeedbackExporter` (``GenerateFeedback.exporter_class``) writes
nbgrader's feedback page with a Content-Security-Policy in its ``<head>``
that runs only the template's own scripts (:mod:`.script_policy`): a
student's script that the trusted merge missed stays inert wherever the file
is opened (JupyterLab, a browser tab, a download).
"""

import copy

from nbconvert.exporters import HTMLExporter
from nbgrader.preprocessors import NbGraderPreprocessor

from . import script_policy

BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
PLACEHOLDER = "# (hidden tests run here; their code is not shown)"


def without_hidden_tests(source):
    """Return ``source`` with each hidden-test region replaced by one comment
    line, and whether there was any."""
    kept, hidden, inside = [], False, False
    for line in source.splitlines():
        if BEGIN in line:
            inside, hidden = True, True
            kept.append(PLACEHOLDER)
        elif END in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept), hidden


def failure_message(output):
    """Return an error output's one-line message, which names what was expected."""
    name, message = output.get("ename", "Error"), output.get("evalue")
    return f"{name}: {message}" if message else f"{name} (raised while this cell's tests ran)"


class HideHiddenTests(NbGraderPreprocessor):
    """Drop hidden tests' source, and the tracebacks that quote it, from feedback."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.source, hidden = without_hidden_tests(cell.source)
            if hidden:
                for output in cell.outputs:
                    if output.output_type == "error":
                        output.traceback = [failure_message(output)]
        return cell, resources


class InertFeedbackExporter(HTMLExporter):
    """nbgrader's feedback page (an HTMLExporter), with a policy that runs
    only the template's own scripts."""

    def from_notebook_node(self, nb, resources=None, **kw):
        """Return (html, resources) as HTMLExporter does, the html holding a
        ``<meta>`` Content-Security-Policy (:func:`script_policy.policy`)."""
        bare_resources = copy.deepcopy(resources)
        html, resources = super().from_notebook_node(nb, resources, **kw)
        trusted, _ = super().from_notebook_node(script_policy.bare_notebook(nb), bare_resources, **kw)
        content = script_policy.policy(trusted, connect=(), frame_ancestors=None)
        return script_policy.with_meta_policy(html, content), resources
