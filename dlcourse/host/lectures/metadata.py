"""The notebook metadata that the course's kernel writes (host side).

JupyterLab stores the kernel's ``kernelspec`` and ``language_info`` in a
notebook as soon as the kernel starts; when the committed file holds
something else, a student who only opens a lecture sees it as modified and
a later ``git pull`` conflicts. Committed notebooks therefore carry exactly
what :mod:`dlcourse.jupyter` reports. ``python -m dlcourse metadata [--fix]``
checks (and rewrites) them.
"""


import nbformat
from jupyter_client.manager import start_new_kernel

from dlcourse import jupyter

from ..course import Course


def course_notebooks(course):
    """Return every committed notebook of the course (lectures, sources and
    student versions), sorted."""
    layout = Course.at(course)
    folders = (layout.lectures, layout.source(), layout.release())
    return sorted(p for folder in folders for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def kernel_language_info():
    """Start the course's kernel and return the ``language_info`` it reports."""
    manager, client = start_new_kernel(kernel_name=jupyter.KERNEL_NAME)
    try:
        return client.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def expected(language_info):
    """Return the notebook metadata the course's kernel writes."""
    return {"kernelspec": jupyter.notebook_kernelspec(), "language_info": language_info}


def differences(path, language_info):
    """Return the metadata keys of the notebook at ``path`` that differ from
    what the kernel writes (``language_info.version`` ignored: it is the
    Python of whoever committed, 3.11 to 3.13)."""
    found = nbformat.read(path, as_version=4).metadata
    return [key for key, value in expected(language_info).items() if _comparable(found.get(key)) != _comparable(value)]


def _comparable(entry):
    """Return a metadata entry without ``version`` (which only language_info has)."""
    return {k: v for k, v in (entry or {}).items() if k != "version"}


def fix(path, language_info):
    """Rewrite the notebook's kernel metadata to what the kernel writes."""
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata.update(expected(language_info))
    nbformat.write(notebook, path)
