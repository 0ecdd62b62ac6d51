"""The course's Jupyter set-up (kernel side; ships to students).

- The course's kernel, ``dlcourse``: this environment's IPython kernel with
  TensorFlow's C++ log silenced, so that no "Could not find cuda drivers",
  CPU-feature or cuInit line reaches a notebook, whether JupyterLab,
  papermill or the grader runs it. Every course notebook names it.
- JupyterLab settings for the course: no news pop-up, no update checks (the
  course may run without internet).
- For students (``--student``): nbgrader's instructor tools switched off in
  this environment (the Formgrader and Create Assignment), so that only the
  Assignments tab and Validate remain. For instructors: the formgrader's
  Autograde button grades in the sandbox, as ``make autograde`` does.

    python -m dlcourse.jupyter [--student]   # install into this environment (make venv does)
"""

import json
import subprocess
import sys
from pathlib import Path

KERNEL_NAME = "dlcourse"
KERNEL_DISPLAY_NAME = "Python 3 (Keras course)"
# TensorFlow's C++ logging: 3 keeps only fatal errors. The course has no GPU,
# so its CUDA probing (and the cuInit "error" it logs) is noise for students;
# Python exceptions from TensorFlow are raised as always.
KERNEL_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3"}

# nbgrader's instructor tools: JupyterLab extensions, and the formgrader's server extension.
INSTRUCTOR_LAB_EXTENSIONS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment")
INSTRUCTOR_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader",)
# The course's own, for instructors: the formgrader's Autograde button grades in the sandbox
# (dlcourse/host/extensions/formgrader.py), and the grades for the LMS are downloads (dlcourse/host/term/lms.py).
SANDBOXED_AUTOGRADE = "dlcourse.host.extensions.formgrader"
LMS_DOWNLOADS = "dlcourse.host.term.lms"
COURSE_SERVER_EXTENSIONS = (SANDBOXED_AUTOGRADE, LMS_DOWNLOADS)

# On the hub, every kernel says when the memory limit stopped the last one.
HUB_KERNEL_EXTENSION = "dlcourse.memory_notice"

LAB_SETTINGS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def kernelspec():
    """Return the kernel's ``kernel.json`` as a dict. Jupyter starts
    ``python`` as the Python it runs in (this environment's)."""
    return {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": KERNEL_DISPLAY_NAME, "language": "python", "env": KERNEL_ENVIRONMENT,
            "metadata": {"debugger": True}}


def hub_kernelspec():
    """Return the kernel's ``kernel.json`` on the course's hub: the same
    kernel, which also says when the hub's memory limit stopped the last one
    (:mod:`dlcourse.memory_notice`)."""
    spec = kernelspec()
    spec["argv"] = [*spec["argv"], f"--ext={HUB_KERNEL_EXTENSION}"]
    return spec


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


def hide_instructor_tools():
    """Switch nbgrader's instructor tools off in this environment, with
    Jupyter's own commands; return None.

    Raises:
        subprocess.CalledProcessError: a command failed (its output says why).
    """
    jupyter = [sys.executable, "-m", "jupyter"]
    for extension in INSTRUCTOR_LAB_EXTENSIONS:  # locked: not to be switched on again in the interface
        for action in ("disable", "lock"):
            subprocess.run([*jupyter, "labextension", action, "--level=sys_prefix", extension], check=True)
    for extension in INSTRUCTOR_SERVER_EXTENSIONS:
        subprocess.run([*jupyter, "server", "extension", "disable", "--sys-prefix", extension], check=True)


def enable_course_server_extensions(prefix=sys.prefix):
    """Enable the course's own server extensions for instructors
    (:data:`COURSE_SERVER_EXTENSIONS`), as an installed package does (a file
    each in ``etc/jupyter/jupyter_server_config.d``), and remove the files of
    the course's extensions that are no more (a module that moved); return
    the files written."""
    folder = Path(prefix) / "etc" / "jupyter" / "jupyter_server_config.d"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("dlcourse.*.json"):
        if stale.stem not in COURSE_SERVER_EXTENSIONS:
            stale.unlink()
    paths = []
    for extension in COURSE_SERVER_EXTENSIONS:
        path = folder / f"{extension}.json"
        path.write_text(json.dumps({"ServerApp": {"jpserver_extensions": {extension: True}}}, indent=1) + "\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for path in install():
        print("Installed", path)
    if "--student" in sys.argv[1:]:
        hide_instructor_tools()
    else:
        for path in enable_course_server_extensions():
            print("Installed", path)
