import socket
from pathlib import Path

import pytest

from dlcourse.datasets import files
from dlcourse.host.term import hub
from dlcourse.host.course import Course

ROOT = Path(__file__).resolve().parent.parent
# DLCOURSE_DATA_DIR, or else ../shared/datasets (dlcourse.datasets.files knows the default).
DATA_DIR = files.data_dir() or files.SHARED_DATA_DIR

# `make test` runs two lanes at once (pytest-xdist, --dist loadgroup): the
# notebooks, where one kernel trains on about one core, beside the grading,
# whose processes and sandboxes mostly start and wait. Within a lane the tests
# run one at a time: two graded classes never fight over the cores, and a class
# graded once (a module fixture) serves all its tests. Other tests go where
# there is room.
LANES = {"test_notebooks": "notebooks", "test_student_edition": "notebooks",
         # test_roles and test_limits make the hub's system account and control groups, as test_hub does:
         # one lane, so that none removes what another is using.
         **dict.fromkeys(["test_grading_pipeline", "test_hostile_submissions", "test_dask_cluster", "test_hub",
                          "test_browser", "test_course", "test_sandbox_faults", "test_prelaunch", "test_roles",
                          "test_limits"], "grading")}


# Before xdist's own hook, which reads the groups.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Put each test of LANES's modules in its lane, and start the slow tests
    first, so that the quick ones fill the gaps."""
    for item in items:
        lane = LANES.get(item.module.__name__)
        if lane:
            item.add_marker(pytest.mark.xdist_group(lane))
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


def pytest_configure(config):
    """The tests run the course's notebooks and write into its build/: never
    as root on a hub's course, whose notebooks the staff write (see
    dlcourse.host.term.hub.refuse_root)."""
    try:
        hub.refuse_root(Course.at(ROOT))
    except hub.HubError as exc:
        pytest.exit(f"error: {exc}", returncode=2)
