"""Host side: nbgrader's OverwriteCells, for cells a student copied or marked.

nbgrader 0.9.6 stops a student's whole autograde (``KeyError: 'grade_id'``
in ``add_missing_task_cells``) when a submitted cell has nbgrader metadata
without a grade id. Two honest and dishonest ways lead there: a copy of a
test cell (``DeduplicateIds`` empties the metadata of every copy but the
last), and a student's cell that claims a grade id the gradebook does not
know (``OverwriteCells`` removes only the id). Either cell is the
student's own: :class:`OverwriteCells` removes its nbgrader metadata, so
that it runs, and is scanned, as the student's, and the submission is
graded. ``nbgrader_config.py`` puts it in place of nbgrader's own in
``Autograde.sanitize_preprocessors``; nbgrader's ``OverwriteCells``
settings apply to it.
"""

from nbgrader import preprocessors


class OverwriteCells(preprocessors.OverwriteCells):
    """nbgrader's OverwriteCells; a cell left with nbgrader metadata but no
    grade id becomes a plain cell of the student's."""

    def preprocess_cell(self, cell, resources, cell_index):
        """Return (cell, resources) as nbgrader's does, without nbgrader
        metadata on a cell that has no grade id."""
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if "nbgrader" in cell.metadata and "grade_id" not in cell.metadata.nbgrader:
            del cell.metadata["nbgrader"]
        return cell, resources
