import socket
from pathlib import Path

import pytest

from dlcourse.datasets import files

ROOT = Path(__file__).resolve().parent.parent
# DLCOURSE_DATA_DIR, or else ../shared/datasets (dlcourse.datasets.files knows the default).
DATA_DIR = files.data_dir() or files.SHARED_DATA_DIR


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
