import socket
from pathlib import Path

import pytest

from dlcourse.datasets import files

ROOT = Path(__file__).resolve().parent.parent
# DLCOURSE_DATA_DIR, or else ../shared/datasets (dlcourse.datasets.files knows the default).
DATA_DIR = files.data_dir() or files.SHARED_DATA_DIR

# `make test` runs the tests on one worker per core (pytest-xdist, --dist
# loadgroup). These module fixtures grade a class or start a server: the tests
# that use one run on the same worker, so that it is built once. The two graded
# classes share a course and a test, so they share a worker too.
ONE_WORKER = {"graded_variants": "graded-course", "graded_class": "graded-course",
              "graded_on_another_backend": "another-backend", "hostile": "hostile", "lying_class": "lying-class",
              "setting": "browser", "term": "hub"}


# Before xdist's own hook, which reads the groups.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Group the tests of each shared fixture (per parameter) onto one worker,
    and start the slow tests first, so that the quick ones fill the gaps."""
    for item in items:
        for fixture in item.fixturenames:
            if fixture in ONE_WORKER:
                params = getattr(item, "callspec", None)
                param = params.params.get(fixture, "") if params else ""
                item.add_marker(pytest.mark.xdist_group(f"{ONE_WORKER[fixture]}{param}"))
                break
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def data_dir():
    """The folder with the offline dataset files, as the session started."""
    if not (DATA_DIR / "MANIFEST.json").exists():
        pytest.fail(f"no dataset files in {DATA_DIR}: set DLCOURSE_DATA_DIR to ../shared/datasets")
    return DATA_DIR


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
