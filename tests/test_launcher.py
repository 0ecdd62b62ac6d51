"""Each submission's nbgrader process is a fresh fork of the launcher, run in
the folder and environment it was asked for, and its exit code comes back.

The processes here run :func:`dlcourse.host.grading.prelaunch.main` with a plain
(unsandboxed) kernel that waits for nbgrader's arguments: end of input makes
it stop its kernel, remove its work folder and end with 0.
"""

import os
import time

import psutil

from dlcourse.host import processes
from dlcourse.host.grading import sandbox
from dlcourse.host.grading.launcher import KILLED, Launcher
from dlcourse.host.nbgrader_process import nbgrader_environment


def slot_folders(tmp_path, name, kernelspec=True):
    """Make a work folder with a submission folder and a runtime folder (and,
    with ``kernelspec``, a plain kernelspec); return (argv, environment)."""
    work = tmp_path / name
    folder, runtime, home, jupyter = (work / part for part in ("submission", "runtime", "home", "jupyter"))
    for path in (folder, runtime, home / "tmp", jupyter):
        path.mkdir(parents=True)
    if kernelspec:
        sandbox.write_kernelspec(jupyter, [(folder, folder), (runtime, runtime), (home, home)], home,
                                 sandboxed=False)
    env = nbgrader_environment(JUPYTER_PATH=str(jupyter), JUPYTER_CONFIG_DIR=str(jupyter),
                               JUPYTER_RUNTIME_DIR=str(runtime), TMPDIR=str(runtime))
    return [str(folder), str(runtime / sandbox.SOCKET), str(work), str(work / "incoming")], env


def wait_for_its_kernel(process):
    """Return once ``process`` has started a kernel (it has set itself up by then)."""
    deadline = time.monotonic() + 60
    while not process.children():
        assert time.monotonic() < deadline, "the launched process started no kernel within 60 s"
        time.sleep(0.05)


def test_each_process_is_a_new_fork_in_its_own_folder_environment_and_session(tmp_path):
    launcher = Launcher()
    try:
        # The first request starts the launcher with its environment: one without the kernelspec.
        argv, env = slot_folders(tmp_path, "first", kernelspec=False)
        first = launcher.launch(argv, cwd=tmp_path / "first", env=env, log=tmp_path / "first.log")
        assert first.wait(timeout=60) == 1, "a process whose kernel cannot start must end with 1"
        assert "NoSuchKernel" in (tmp_path / "first.log").read_text(), "its error must reach its own log"

        argv, env = slot_folders(tmp_path, "second")
        second = launcher.launch(argv, cwd=tmp_path / "second", env=env, log=tmp_path / "second.log")
        process = psutil.Process(second.pid)
        wait_for_its_kernel(process)
        assert second.pid not in (first.pid, launcher._process.pid, os.getpid())
        assert psutil.Process(launcher._process.pid).num_threads() == 1, \
            "the launcher forks: a second thread could hold a lock the fork copies"
        assert process.cwd() == str(tmp_path / "second")
        # /proc shows a fork's environment as it was at exec, the launcher's; its kernel's shows what it ran with.
        kernel = process.children()[0]
        assert kernel.environ()["JUPYTER_RUNTIME_DIR"] == env["JUPYTER_RUNTIME_DIR"], \
            "it must run with the environment it was asked for, not the launcher's"
        assert os.getsid(second.pid) == second.pid, "it must lead a session of its own"
        assert second.poll() is None, "it waits for nbgrader's arguments"
        second.stdin.close()
        assert second.wait(timeout=60) == 0
        assert not (tmp_path / "second").exists(), "at end of input it removes its work folder"
    finally:
        launcher.close()


def test_a_process_whose_launcher_died_is_reported_killed_once_it_ends(tmp_path):
    launcher = Launcher()
    argv, env = slot_folders(tmp_path, "slot")
    launched = launcher.launch(argv, cwd=tmp_path, env=env, log=tmp_path / "slot.log")
    launcher._process.kill()
    launcher._process.wait()
    assert launched.poll() is None, "it still runs after its launcher died"
    processes.kill(processes.process_tree(launched.pid))
    assert launched.wait(timeout=30) == KILLED
    # The next request starts a new launcher.
    argv, env = slot_folders(tmp_path, "next")
    again = launcher.launch(argv, cwd=tmp_path, env=env, log=tmp_path / "next.log")
    again.stdin.close()
    assert again.wait(timeout=60) == 0
    launcher.close()
