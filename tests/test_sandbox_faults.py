"""Faults of the grading machine are told apart from faults of a submission.

A course reached through symbolic links (a ``.venv`` that is a link to an
environment elsewhere, a course and data folder reached through a link)
grades like any other. A sandbox that cannot start a kernel stops grading
before the first submission, with the sandbox's own words, and marks no
one. A submission that kills its own kernel is still blamed, with its cell.
"""

import grp
import hashlib
import os
import json
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from distributed import LocalCluster

from conftest import ROOT
from dlcourse.host.grading import capped, sandbox, submission, whole_class
from dlcourse.host.course import Course
from dlcourse.host.nbgrader_process import nbgrader_environment
from submissions import cell_scores, expected_scores, new_course, solved, submit
from test_grading_pipeline import VARIANTS

A3 = "a3_regression"
# Rows of the pipeline's one-mistake table: student -> (changes to the solution, the tests it must fail).
CLASS = {student: VARIANTS[A3][student] for student in ("solution", "leaky_normalize")}


def linked_environment(tmp_path):
    """Return the Python of this virtual environment reached through a link
    (``tmp_path/linked-venv`` -> the real environment), as a ``.venv`` link is."""
    link = tmp_path / "linked-venv"
    link.symlink_to(Path(sys.prefix).resolve(), target_is_directory=True)
    return link / "bin" / Path(sys.executable).name


def test_links_on_the_way_are_found_in_order(tmp_path):
    (tmp_path / "real" / "env").mkdir(parents=True)
    (tmp_path / "alias").symlink_to("real")                        # relative
    (tmp_path / "real" / "venv").symlink_to(tmp_path / "real" / "env")  # absolute, behind the first link
    links = sandbox.links_on_the_way(tmp_path / "alias" / "venv" / "bin")
    assert links[-2:] == [("real", str(tmp_path / "alias")), (str(tmp_path / "real" / "env"), str(tmp_path / "real" / "venv"))]
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(sandbox.SandboxUnavailable, match="loop"):
        sandbox.links_on_the_way(tmp_path / "loop" / "x")


def test_a_kernel_starts_in_the_sandbox_through_a_linked_environment(tmp_path):
    python = linked_environment(tmp_path)
    check = subprocess.run([str(python), "-c", "import sys; from dlcourse.host.grading import sandbox; "
                            "sandbox.check_kernel_starts(); print(sys.prefix)"],
                           capture_output=True, text=True, env=nbgrader_environment())
    assert check.returncode == 0, check.stderr[-2000:]
    assert check.stdout.strip() == str(python.parent.parent), "the check did not run through the link"


def test_a_kernel_starts_under_a_tmpdir_too_deep_for_its_sockets(tmp_path):
    deep = tmp_path / ("d" * 50) / ("e" * 50)  # as a cluster's per-job TMPDIR can be
    deep.mkdir(parents=True)
    assert len(str(deep)) > sandbox.SOCKET_PATH_MAX
    starts = "from dlcourse.host.grading import sandbox; sandbox.check_kernel_starts()"
    check = subprocess.run([sys.executable, "-c", starts],
                           capture_output=True, text=True, env=nbgrader_environment(TMPDIR=str(deep)))
    assert check.returncode == 0, check.stderr[-2000:]


def grade_through_links(tmp_path, python, course_parent):
    """Grade CLASS on A3 with ``python -m dlcourse autograde``; return the summary's outcomes."""
    course = new_course(course_parent / "course")
    for student, (changes, _) in CLASS.items():
        submit(course, student, A3, solved(A3, **changes))
    summary = tmp_path / "summary.json"
    graded = subprocess.run([str(python), "-m", "dlcourse", "autograde", A3, "--course", str(course),
                             "--workers", "2", "--summary", str(summary)],
                            capture_output=True, text=True, env=nbgrader_environment())
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    return course, {o["student"]: o for o in json.loads(summary.read_text())["outcomes"]}


@pytest.mark.slow
def test_a_course_reached_through_links_grades_as_any_other(tmp_path, data_dir, monkeypatch):
    # All at once: the virtual environment, the course folder and the data folder, each behind a link.
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "data").symlink_to(data_dir.resolve(), target_is_directory=True)
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(tmp_path / "data"))
    course, outcomes = grade_through_links(tmp_path, linked_environment(tmp_path), tmp_path / "link")
    for student, (_, failing) in CLASS.items():
        assert outcomes[student]["status"] == "graded", outcomes[student]["reasons"]
        assert cell_scores(course, A3, student) == expected_scores(course, A3, failing), student


def fingerprint(course):
    layout = Course.at(course)
    autograded = sorted(str(p.relative_to(course)) for p in layout.autograded().rglob("*")) \
        if layout.autograded().exists() else []
    return hashlib.sha256(layout.gradebook_path.read_bytes()).hexdigest(), autograded


@pytest.mark.slow
def test_a_sandbox_that_cannot_start_a_kernel_stops_grading_and_marks_no_one(tmp_path, monkeypatch):
    course = new_course(tmp_path / "course")
    for student, (changes, _) in CLASS.items():
        submit(course, student, A3, solved(A3, **changes))
    before = fingerprint(course)
    missing = tmp_path / "no-such-environment" / "bin" / "python"
    monkeypatch.setattr(sandbox, "kernel_command", lambda writable, warm=False, report=None: [
        str(missing), "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    submission.check_sandbox.cache_clear()
    # Workers as threads of this process, so that they see the broken kernel command.
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        try:
            with pytest.raises(sandbox.SandboxUnavailable) as raised:
                whole_class.autograde_class(course, A3, scheduler=cluster.scheduler_address, progress=False)
        finally:
            submission.check_sandbox.cache_clear()
    message = str(raised.value)
    assert "cannot start a kernel on this machine" in message and "no submission was graded" in message
    assert f"execvp {missing}: No such file or directory" in message, "the sandbox's own words are missing"
    assert "Fix: a path the kernel needs does not exist inside the sandbox" in message
    assert fingerprint(course) == before, "the gradebook or autograded/ changed"


# A kernel's code that walks up from its folder, reads what it finds, and removes a classmate's notebook.
LOOKS_AROUND = """import os
from pathlib import Path
here = Path.cwd()
print(os.path.exists(here.parent / "course" / "gradebook.db"))   # a question only: no trace
for folder in [here.parent, here.parent.parent]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and here not in path.parents:
            print(path, len(path.read_bytes()))
for path in [*(here.parent / "course" / "submitted").rglob("*.ipynb"), *(here.parent / "submitted").rglob("*.ipynb")]:
    path.unlink()
"""


def test_decoys_around_a_kernel_s_folder_report_every_touch_from_outside_the_sandbox(tmp_path):
    work = tmp_path / "dlcourse-grading-x"
    folder = work / "submission"
    folder.mkdir(parents=True)
    decoys = submission.decoys.plant(work, folder, A3)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder)}
    argv = sandbox.bwrap_argv([(folder, folder)], env, sandbox.require_bwrap(), decoys.binds)
    decoys.watch()
    try:
        def run(code):
            done = subprocess.run([*argv, "--chdir", str(folder), "--", sys.executable, "-P", "-c", code],
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr[-2000:]
            return decoys.touched()

        honest = "import os, dlcourse, keras\nopen('notes.txt', 'w').write('mine')\nprint(os.listdir('.'))"
        assert run(honest) == [], "an honest kernel touched a decoy"
        assert run("import os\nprint(os.path.exists('../course/gradebook.db'))") == [], "a question is no touch"
        touched = run(LOOKS_AROUND)
    finally:
        decoys.close()
    for seen in [work / "course", work / "course" / "gradebook.db", work / "course" / "nbgrader_config.py",
                 work / "course" / "submitted" / "another_student" / A3 / f"{A3}.ipynb",
                 work / "gradebook.db", work / "submitted" / "another_student" / A3 / f"{A3}.ipynb",
                 decoys.binds[-1][1] / f"{A3}.ipynb"]:   # a neighbouring grading's folder
        assert str(seen) in touched, f"{seen} was touched and not reported: {touched}"
    assert not any(str(folder) in path for path in touched), "the kernel's own folder is no decoy"


# Code run as another account reads the course package from a copy it may read (the checkout and its .venv
# may lie in a folder of root's only), with this Python's interpreter (the .venv's is a link to it).
AS_ANOTHER = ["dlcourse/__init__.py", "dlcourse/host/__init__.py", "dlcourse/host/errors.py",
              "dlcourse/host/grading/__init__.py", "dlcourse/host/grading/decoys.py", "dlcourse/host/grading/capped.py"]


def run_as(account, code, *args):
    """Run ``code`` as ``account`` (started as it) with the modules AS_ANOTHER; return the finished process."""
    copy = Path(tempfile.mkdtemp(prefix="dlcourse-as-another-"))
    try:
        for relative in AS_ANOTHER:
            (copy / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / relative, copy / relative)
        for path in [copy, *copy.rglob("*")]:
            path.chmod(0o755)
        return subprocess.run([os.path.realpath(sys.executable), "-c", code, *args], capture_output=True, text=True,
                              timeout=120, env={"PATH": "/usr/bin:/bin", "TMPDIR": "/tmp", "PYTHONPATH": str(copy)},
                              user=account, group=grp.getgrgid(pwd.getpwnam(account).pw_gid).gr_name, cwd="/")
    finally:
        shutil.rmtree(copy)


# Run as an account of its own: it takes every inotify instance its user may have (all but one, and
# then every watch), then watches decoys.
EXHAUSTS_INOTIFY = """import atexit, os, shutil, sys, tempfile
from dlcourse.host.grading import decoys
libc = decoys._libc()
taken = []
while (fd := libc.inotify_init1(0)) >= 0:
    taken.append(fd)
folder = tempfile.mkdtemp()
atexit.register(shutil.rmtree, folder)
if sys.argv[1] == "watches":
    os.close(taken.pop())
    for i in range(2000):
        open(os.path.join(folder, str(i)), "w").close()
    paths = [os.fsencode(os.path.join(folder, str(i))) for i in range(2000)]
    for fd in taken:
        if any(libc.inotify_add_watch(fd, path, decoys.IN_OPEN) < 0 for path in paths):
            break
planted = decoys.plant(folder, os.path.join(folder, "submission"), "a3_regression")
try:
    planted.watch()
except decoys.WatchUnavailable as error:
    print(error)
    sys.exit(0)
sys.exit(f"watched the decoys with {len(taken)} instances taken")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to run as an account whose inotify instances it may take")
@pytest.mark.parametrize("limit", ["instances", "watches"])
def test_a_machine_out_of_inotify_stops_grading_with_the_limit_to_raise(limit):
    done = run_as("nobody", EXHAUSTS_INOTIFY, limit)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert f"ran out of inotify {limit}" in done.stdout, done.stdout
    assert f"fs.inotify.max_user_{limit}" in done.stdout, done.stdout


# As a grading's nbgrader process does: capped folders in a namespace of its own, a sandboxed writer in them.
FILLS_A_CAPPED_FOLDER = """import shutil, subprocess, sys
from dlcourse.host.grading import capped
space, folder = sys.argv[1:]
capped.enter(space, [folder])
sandboxed = [shutil.which("bwrap"), "--unshare-pid", "--unshare-net", "--unshare-user",
             "--uid", "65534", "--gid", "65534",
             "--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev", "--bind", folder, folder, "--chdir", folder]
write = f"head -c {(capped.SCRATCH_MB + 1) * 2**20} /dev/zero > big"
was_full = capped.watch_full(space)
done = subprocess.run([*sandboxed, "--", "/bin/sh", "-c", write + "; sleep 1; rm big"], capture_output=True, text=True)
print(done.stdout, done.stderr, "full:", was_full(), "full now:", capped.full(space))
system_v = "import ctypes; c = ctypes.CDLL(None); print('System V:', c.shmget(0, 4096, 0o1600), c.msgget(0, 0o1600))"
done = subprocess.run([*sandboxed, "--", sys.executable, "-c", system_v], capture_output=True, text=True)
print(done.stdout, done.stderr)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to run as root and as an account of its own")
@pytest.mark.parametrize("account", ["root", "nobody"])
def test_a_capped_folder_holds_what_it_may_and_nothing_reaches_the_disk(account):
    work = Path(tempfile.mkdtemp(prefix="dlcourse-capped-test-"))   # pytest's folders are root's only
    space, folder = work / "space", work / "kernel"
    try:
        for path in (work, space, folder):
            path.mkdir(exist_ok=True)
            path.chmod(0o777)
        done = run_as(account, FILLS_A_CAPPED_FOLDER, str(space), str(folder))
        assert done.returncode == 0, done.stderr[-2000:]
        assert "No space left on device" in done.stdout + done.stderr and "full: True full now: False" in done.stdout, \
            done.stdout + done.stderr
        assert "System V: -1 -1" in done.stdout, "shared memory or a message queue was made: " + done.stdout
        assert list(folder.iterdir()) == [] and list(space.iterdir()) == [], \
            "what the kernel wrote reached the machine's disk"
    finally:
        shutil.rmtree(work)


KERNEL_REACHES_FOR_THE_MACHINE = r"""import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
reached = []
for setting in ("/proc/sys/kernel/shmmni", "/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger"):
    try:
        os.close(os.open(setting, os.O_WRONLY))
        reached.append(setting)
    except OSError:
        pass
if libc.shmget(0, 4096, 0o1600) != -1:
    reached.append("System V shared memory")
if libc.unshare(0x10000000 | 0x8000000) == 0:   # a user and an IPC namespace of its own, then memory in it
    there = libc.shmget(0, 4096, 0o1600) != -1
    reached.append("a user namespace of its own" + (", and shared memory there" if there else ""))
print("reached:", reached)
"""

CAPPED_SANDBOX = """import shutil, subprocess, sys, tempfile
from pathlib import Path
from dlcourse.host.grading import capped, sandbox
work = Path(tempfile.mkdtemp(prefix="dlcourse-reach-test-"))
space, folder = work / "space", work / "kernel"
space.mkdir(); folder.mkdir()
capped.enter(space, [folder])
argv = sandbox.bwrap_argv([(folder, folder)], {}, sandbox.require_bwrap(), scratch={"/tmp": folder, "/dev/shm": folder})
done = subprocess.run([*argv, "--", sys.executable, "-c", sys.argv[1]], capture_output=True, text=True)
print(done.stdout, done.stderr)
capped.leave(space, [folder])
shutil.rmtree(work)
"""


def test_a_graded_kernel_reaches_neither_the_machine_s_settings_nor_memory_outside_its_limits(tmp_path):
    """Run by root (as CI grades), the kernel is root on the machine outside its namespaces."""
    done = subprocess.run([sys.executable, "-c", CAPPED_SANDBOX, KERNEL_REACHES_FOR_THE_MACHINE],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert "reached: []" in done.stdout, done.stdout + done.stderr[-2000:]


def test_the_capped_folders_check_passes_here():
    assert capped.check() is None
