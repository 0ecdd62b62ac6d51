"""Read back, on the host, the metrics a notebook recorded with
:func:`dlcourse.results.record` (host side)."""

import json

import nbformat

from dlcourse.results import MIME_TYPE


def _records(notebook):
    """Yield the outputs of :func:`dlcourse.results.record` in an executed
    notebook (a path or a ``nbformat.NotebookNode``), in order."""
    if not isinstance(notebook, nbformat.NotebookNode):
        notebook = nbformat.read(notebook, as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if MIME_TYPE in output.get("data", {}):
                yield output


def read(notebook):
    """Return every result recorded in an executed notebook (a path or a
    ``nbformat.NotebookNode``), as one dict. A name recorded twice keeps its
    last value.
    """
    found = {}
    for output in _records(notebook):
        value = output["data"][MIME_TYPE]
        found.update(json.loads(value) if isinstance(value, str) else value)
    return found


def keras_backend(notebook):
    """Return the Keras backend the last recorded results of an executed
    notebook (a path or a NotebookNode) were computed on, or None when it
    recorded nothing or names no backend."""
    found = None
    for output in _records(notebook):
        found = output.get("metadata", {}).get(MIME_TYPE, {}).get("keras_backend", found)
    return found
