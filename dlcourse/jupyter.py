"""The course's Jupyter set-up (kernel side; ships to students).

- The course's kernel, ``dlcourse``: this environment's IPython kernel with
  TensorFlow's C++ log silenced, so that no "Could not find cuda drivers",
  CPU-feature or cuInit line reaches a notebook, whether JupyterLab,
  papermill or the grader runs it. Every course notebook names it.
- JupyterLab settings for the course: no news pop-up, no update checks (the
  course may run without internet).

    python -m dlcourse.jupyter      # install both into this environment (make venv does)
"""

import json
import sys
from pathlib import Path

KERNEL_NAME = "dlcourse"
KERNEL_DISPLAY_NAME = "Python 3 (Keras course)"
# TensorFlow's C++ logging: 3 keeps only fatal errors. The course has no GPU,
# so its CUDA probing (and the cuInit "error" it logs) is noise for students;
# Python exceptions from TensorFlow are raised as always.
KERNEL_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3"}

LAB_SETTINGS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def kernelspec():
    """Return the kernel's ``kernel.json`` as a dict. Jupyter starts
    ``python`` as the Python it runs in (this environment's)."""
    return {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": KERNEL_DISPLAY_NAME, "language": "python", "env": KERNEL_ENVIRONMENT,
            "metadata": {"debugger": True}}


def notebook_kernelspec():
    """Return the ``kernelspec`` entry of a notebook that runs in this kernel."""
    return {"display_name": KERNEL_DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}


def install(prefix=sys.prefix):
    """Write the kernelspec and JupyterLab's settings overrides into the
    environment at ``prefix``; return the two files written."""
    share = Path(prefix) / "share" / "jupyter"
    kernel = share / "kernels" / KERNEL_NAME / "kernel.json"
    settings = share / "lab" / "settings" / "overrides.json"
    for path, content in ((kernel, kernelspec()), (settings, LAB_SETTINGS)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=1) + "\n")
    return [kernel, settings]


if __name__ == "__main__":
    for path in install():
        print("Installed", path)
