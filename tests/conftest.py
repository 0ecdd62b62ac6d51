import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "datasets"

# Running pytest directly (not through make) still finds the offline data.
if "DLCOURSE_DATA_DIR" not in os.environ and (SHARED_DATA / "MANIFEST.json").exists():
    os.environ["DLCOURSE_DATA_DIR"] = str(SHARED_DATA)


DATA_DIR = Path(os.environ.get("DLCOURSE_DATA_DIR", SHARED_DATA))


@pytest.fixture
def data_dir():
    """The folder with the offline dataset files, as the session started."""
    if not (DATA_DIR / "MANIFEST.json").exists():
        pytest.fail(f"no dataset files in {DATA_DIR}: set DLCOURSE_DATA_DIR to ../shared/datasets")
    return DATA_DIR
