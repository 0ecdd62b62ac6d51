"""Grading on a real Dask cluster that loses a worker.

A ``dask scheduler`` and two ``dask worker`` processes run on 127.0.0.1 as
separate processes, as on a university cluster. The instructor's command
grades a small class through ``--scheduler``; while it runs, one worker is
killed with everything it started. Every student must still be graded
exactly once, with the right score.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from distributed import Client

from conftest import free_port
from dlcourse.host.nbgrader_process import nbgrader_environment
from submissions import cell_scores, expected_scores, new_course, open_gradebook, solved, student_version, submit

A3 = "a3_regression"
BIN = Path(sys.executable).parent


def start(*args, env=None):
    return subprocess.Popen([str(BIN / "dask"), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=env)


def kill_tree(process):
    tree = [process]
    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        pass
    for p in tree:
        try:
            p.send_signal(signal.SIGKILL)
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass


@pytest.fixture
def cluster():
    address = f"tcp://127.0.0.1:{free_port()}"
    # A worker killed mid-grade leaves its throwaway course (or its sandbox check's folder) behind. Its TMPDIR is
    # short, so that sandbox.work_folder keeps even the kernel's sockets in it, and it goes with the test.
    leftovers = Path(tempfile.mkdtemp(prefix="dask-test-", dir="/tmp"))
    env = dict(os.environ, TMPDIR=str(leftovers))
    processes = [start("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard")]
    for name in ("w1", "w2"):
        processes.append(start("worker", address, "--name", name, "--nthreads", "1", "--no-dashboard",
                               "--memory-limit", "0", env=env))
    with Client(address, timeout="60s") as client:
        client.wait_for_workers(2, timeout=60)
    yield address, processes
    for process in processes:
        kill_tree(process)
    shutil.rmtree(leftovers, ignore_errors=True)


@pytest.mark.slow
def test_a_class_is_graded_exactly_once_when_a_worker_dies(cluster, tmp_path):
    address, processes = cluster
    course = new_course(tmp_path / "course")
    class_ = {"s1": solved(A3), "s2": student_version(A3), "s3": solved(A3), "s4": solved(A3)}
    for student, notebook in class_.items():
        submit(course, student, A3, notebook)
    summary = tmp_path / "summary.json"
    command = subprocess.Popen([sys.executable, "-m", "dlcourse", "autograde", A3, "--course", str(course),
                                "--scheduler", address, "--summary", str(summary)], env=nbgrader_environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Kill worker w1 while it grades (it holds a job once the class is submitted).
    with Client(address, timeout="60s") as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            names = {address: w["name"] for address, w in client.scheduler_info()["workers"].items()}
            if any(names.get(address) == "w1" and keys for address, keys in client.processing().items()):
                break
            time.sleep(0.5)
        else:
            pytest.fail("worker w1 never started grading")
        time.sleep(3)
        kill_tree(processes[1])
        processes[1].wait(timeout=30)
    output, _ = command.communicate(timeout=900)
    assert command.returncode == 0, output
    outcomes = {o["student"]: o for o in json.loads(summary.read_text())["outcomes"]}
    assert sorted(outcomes) == sorted(class_) and all(o["status"] == "graded" for o in outcomes.values()), output
    for student in class_:
        failing = set(cell_scores(course, A3, student)) if student == "s2" else set()
        assert cell_scores(course, A3, student) == expected_scores(course, A3, failing), student
    with open_gradebook(course) as gradebook:
        graded = [s.student.id for s in gradebook.find_assignment(A3).submissions]
    assert sorted(graded) == sorted(class_), f"each student once in the gradebook, not {graded}"
    assert "w2" in {o["worker"] for o in outcomes.values()}, "the surviving worker graded nothing"
