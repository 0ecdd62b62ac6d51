"""The pinned environment: one list of versions, and what is installed matches it."""

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import yaml

from conftest import ROOT
from dlcourse import jupyter
from dlcourse.host import backends

BACKEND_FILES = {name: ROOT / backends.requirements_file(name) for name in backends.PACKAGES}


def pins(*paths):
    """Return {name: version} from requirements files (default: requirements.txt)."""
    found = {}
    for path in paths or [ROOT / "requirements.txt"]:
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                name, version = line.split("==")
                found[name.strip().lower()] = version.strip()
    return found


def test_every_requirement_is_pinned_exactly():
    for path in [ROOT / "requirements.txt", *BACKEND_FILES.values()]:
        lines = [l.split("#")[0].strip() for l in path.read_text().splitlines()]
        loose = [l for l in lines if l and not re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.+]+", l)]
        assert not loose, f"{path.name} must pin every package with ==; these are not: {loose}"
    for needed in ["keras", "jupyterlab", "nbgrader", "papermill", "matplotlib",
                   "numpy", "scikit-learn", "pytest", "ipykernel"]:
        assert needed in pins(), f"requirements.txt does not pin {needed}"
    assert pins()["nbgrader"] == "0.9.6"
    assert pins()["keras"].startswith("3.") and pins()["jupyterlab"].startswith("4.")


def test_each_backend_has_its_own_pins_and_nothing_else_has_any():
    assert sorted(p.name for p in ROOT.glob("requirements-*.txt")) == sorted(p.name for p in BACKEND_FILES.values()), (
        "one requirements-<backend>.txt per backend of dlcourse.host.backends.PACKAGES, and no other")
    for name, path in BACKEND_FILES.items():
        assert backends.PACKAGES[name] in pins(path), f"{path.name} does not pin {backends.PACKAGES[name]}"
    assert not set(backends.PACKAGES.values()) & set(pins()), "requirements.txt must not pin a backend"
    makefile = (ROOT / "venv.mk").read_text()
    assert f"KERAS_BACKEND ?= {backends.DEFAULT}" in makefile, "venv.mk and backends.DEFAULT must agree"


def test_environment_yml_describes_the_same_environment():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps, "environment.yml must ask for python=3.11, the first Python the Makefile looks for"
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "-r requirements.txt" in pip_section, "environment.yml must install requirements.txt through pip"
    assert f"-r {backends.requirements_file(backends.DEFAULT)}" in pip_section, "environment.yml must install the default backend"
    assert "-e ." in pip_section, "environment.yml must install the course package"
    conda_packages = [d for d in deps if isinstance(d, str)]
    assert set(conda_packages) == {"python=3.11", "pip"}, (
        f"environment.yml must not pin packages of its own, or the two lists drift apart: {conda_packages}"
    )


def test_installed_versions_match_the_pins():
    assert (3, 11) <= sys.version_info[:2] <= (3, 13), f"the course runs on Python 3.11 to 3.13, not {sys.version.split()[0]}"
    installed = [path for name, path in BACKEND_FILES.items() if backends.is_installed(name)]
    assert installed, "no Keras backend is installed: make venv"
    wrong = {name: (version, metadata.version(name)) for name, version in pins(ROOT / "requirements.txt", *installed).items()
             if metadata.version(name) != version}
    assert not wrong, f"installed versions differ from requirements.txt (pinned, installed): {wrong}"


def test_the_course_kernel_is_installed_and_runs_this_environment():
    out = subprocess.run([sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
                         capture_output=True, text=True, check=True).stdout
    specs = json.loads(out)["kernelspecs"]
    assert jupyter.KERNEL_NAME in specs, f"the course's kernel is not installed (make venv); found {sorted(specs)}"
    spec = specs[jupyter.KERNEL_NAME]["spec"]
    assert spec["argv"][0] == "python", f"the course kernel starts {spec['argv'][0]}, not this environment's Python"
    assert spec["env"] == jupyter.KERNEL_ENVIRONMENT, "the installed kernel is stale: run python -m dlcourse.jupyter"


def test_jupyterlab_settings_turn_the_news_off():
    path = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert path.is_file(), "no JupyterLab overrides.json in this environment: run python -m dlcourse.jupyter"
    assert json.loads(path.read_text()) == jupyter.LAB_SETTINGS


def test_committed_notebooks_carry_the_metadata_the_course_kernel_writes():
    """Otherwise JupyterLab marks a notebook modified as soon as it is opened."""
    from dlcourse.host.lectures import metadata as notebook_metadata

    info = notebook_metadata.kernel_language_info()
    paths = notebook_metadata.course_notebooks(ROOT)
    committed = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert paths == sorted(ROOT / line for line in committed.stdout.splitlines()), \
        "the metadata check does not look at exactly the committed notebooks"
    wrong = {str(p.relative_to(ROOT)): keys for p in paths if (keys := notebook_metadata.differences(p, info))}
    assert not wrong, f"notebook metadata differs from the course kernel's: {wrong}. Fix: python -m dlcourse metadata --fix"
