"""The grading pieces that need no kernel: the tamper scan, scoring from
executed cells, output caps, feedback without hidden tests, the layer
checks, and the sandbox's refusal when no sandbox tool is installed."""

import json
import os
import threading
import types

import keras
import nbformat
import pytest
from keras import layers

from conftest import ROOT
from dlcourse import grading
from dlcourse.host import backends
from dlcourse.host.extensions import feedback
from dlcourse.host.grading import cheats, judge, merge, sandbox, submission, whole_class
from dlcourse.host.course import Course
from dlcourse.host.cli import main
from submissions import fill, solution_code, student_version

ASSIGNMENTS = Course.at(ROOT).assignments()

HONEST = {
    "magics": "%matplotlib inline\nimport matplotlib.pyplot as plt",
    "timed cell": "%%time\nmaes = [1, 2, 3]",
    "pandas": "import pandas as pd\ntable = pd.DataFrame({'a': [1]}).rename(columns={'a': 'b'})",
    "ordinary methods": "xs = [1, 2]\nxs.remove(1)\nname = 'a/b'.replace('/', '-')\nprint(type(xs).__name__)",
    "class name": "model = keras.Sequential()\nprint(model.__class__.__name__, getattr(model, 'name'))",
    "guarded experiment": "if not grading.run_by_nbgrader():\n    history = train_and_validate(build_network([64]), epochs=20)",
    "own helper": "def smooth(points, factor=0.9):\n    out = []\n    for p in points:\n        out.append(p)\n    return out",
    "tqdm": "from tqdm.auto import tqdm\nfor fold in tqdm(range(4)):\n    pass",
    "quiet TensorFlow": "import os\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\nlevel = os.getenv('TF_CPP_MIN_LOG_LEVEL')",
    "files of its own": "import os\nos.makedirs('plots', exist_ok=True)\nplt.savefig(os.path.join('plots', 'a.png'))",
    "a temporary file": ("import tempfile\nwith tempfile.NamedTemporaryFile('w', suffix='.csv') as f:\n"
                         "    f.write('epoch,mae')\nimport sys\nsys.stdout.write('saved')"),
    "a model class of its own": "class Net(keras.Sequential):\n    def describe(self):\n        return len(self.layers)",
    "a callback that prints": ("class Show(keras.callbacks.Callback):\n    def on_epoch_end(self, epoch, logs=None):\n"
                               "        print(epoch, logs['val_loss'])"),
}

ATTACKS = {
    "patches a helper": ("from dlcourse import grading as g\ng.check_layers = print", "changes g.check_layers"),
    "rebinds grading": ("grading = None", "rebinds grading"),
    "fakes equality": ("class A:\n    def __eq__(self, other):\n        return True", "defines __eq__"),
    "input transformer": ("get_ipython().input_transformers_post.append(str)", "input_transformers_post"),
    "shell": ("!cat /etc/passwd", "shell command"),
    "other magic": ("%load ../../solutions/a1.py", "magic %load"),
    "removes a file": ("import os\nos.remove('x')", "os.remove"),
    "absolute path": ("data = open('/course/gradebook.db', 'rb').read()", "outside its own folder"),
    "parent folder": ("data = open('../../gradebook.db', 'rb').read()", "outside its own folder"),
    "subprocess": ("import subprocess", "imports subprocess"),
    "sockets": ("from socket import create_connection", "imports socket"),
    "exec": ("exec('print(1)')", "uses exec"),
    "frames": ("import sys\nf = sys._getframe(1)", "sys._getframe"),
    "history": ("print(In[-1])", "uses In"),
    "environment": ("import os\nprint(os.environ)", "os.environ"),
    "grader variable": ("import os\ngraded = os.environ.get('NBGRADER_EXECUTION')", "NBGRADER_EXECUTION"),
    "output history": ("print(_i3)", "uses _i3"),
    "graded switch": ("def normalize(a, b):\n    if grading.run_by_nbgrader():\n        return a, b", "asks whether it is being graded"),
    "sys.modules": ("import sys\nsys.modules['dlcourse.grading'] = None", "sys.modules"),
    "computed getattr": ("name = 'check_' + 'layers'\nf = getattr(grading, name)", "getattr with a computed name"),
    "fit of its own": ("class Net(keras.Sequential):\n    def fit(self, *args, **kwargs):\n        return super().fit(*args, **kwargs)",
                       "defines Net.fit, which can change what training reports"),
    "train_step of its own": ("class Net(keras.Model):\n    def train_step(self, data):\n        return {}",
                              "defines Net.train_step"),
    "a property that lies": ("class Net(keras.Sequential):\n    @property\n    def layers(self):\n        return []",
                             "defines Net.layers"),
    "a callback that edits the logs": ("class Better(keras.callbacks.Callback):\n    def on_epoch_end(self, epoch, logs=None):\n"
                                       "        logs['val_loss'] = 0.0", "Better.on_epoch_end changes the training logs"),
    "replaces fit on a model": ("model = keras.Sequential()\nmodel.fit = print", "replaces model.fit"),
}


def a1_notebook(extra_source):
    notebook = fill(student_version("a1_layers_units"), solution_code("a1_layers_units"))
    notebook.cells.append(nbformat.v4.new_code_cell(extra_source))
    return notebook


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_solutions_are_never_flagged(assignment):
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    assert cheats.scan_notebook(source) == []
    assert cheats.scan_notebook(fill(student_version(assignment), solution_code(assignment))) == []


@pytest.mark.parametrize("name", HONEST)
def test_honest_code_is_never_flagged(name):
    assert cheats.scan_notebook(a1_notebook(HONEST[name])) == []


@pytest.mark.parametrize("name", ATTACKS)
def test_each_kind_of_tampering_is_flagged_with_its_reason(name):
    code, reason = ATTACKS[name]
    found = cheats.scan_notebook(a1_notebook(code))
    assert any(reason in r for r in found), f"{name}: expected a reason with {reason!r}, got {found}"


def test_locked_cells_are_not_held_against_the_student():
    notebook = a1_notebook("")
    setup = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    assert "import" in setup.source and cheats.scan_notebook(notebook) == []


def test_scores_come_from_errors_only_and_never_from_stderr():
    cell = nbformat.v4.new_code_cell("assert True", metadata={"nbgrader": {"grade": True, "solution": False,
                                                                          "grade_id": "t", "points": 3}})
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="100%|#####| 4/4 folds\n")]
    assert merge.cell_score(cell, 3) == 3.0
    cell.outputs.append(nbformat.v4.new_output("error", ename="AssertionError", evalue="no", traceback=[]))
    assert merge.cell_score(cell, 3) == 0.0


def test_outputs_are_capped_with_a_note_and_floods_are_flagged():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('x' * 3e7)")])
    notebook.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 3_000_000 + "\n")]
    assert merge.floods(notebook) and "3 MB" in merge.floods(notebook)[0]
    merge.cap_outputs(notebook)
    text = notebook.cells[0].outputs[0].text
    assert len(text) < merge.MAX_OUTPUT_BYTES + 500 and "output cut here" in text
    small = nbformat.v4.new_output("stream", name="stdout", text="fine\n")
    notebook.cells[0].outputs = [small]
    assert merge.cap_outputs(notebook).cells[0].outputs[0].text == "fine\n" and not merge.floods(notebook)


def test_large_attachments_are_replaced_by_a_note_and_small_ones_kept():
    import base64

    cell = nbformat.v4.new_markdown_cell("![plot](attachment:big.png) ![icon](attachment:small.png)")
    big = base64.b64encode(b"\x89PNG" + b"\0" * 14_000_000).decode()
    cell.attachments = {"big.png": {"image/png": big}, "small.png": {"image/png": "iVBORw0KGgo="}}
    notebook = merge.cap_outputs(nbformat.v4.new_notebook(cells=[cell]))
    kept = notebook.cells[0].attachments
    assert kept["small.png"] == {"image/png": "iVBORw0KGgo="}
    assert kept["big.png"]["text/plain"].startswith("[attachment big.png of 18,66")
    assert "image/png" not in kept["big.png"]
    nbformat.validate(notebook)


def test_feedback_drops_hidden_tests_and_their_tracebacks():
    source = "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(2) == 4, 'f doubles'\n### END HIDDEN TESTS\nprint('ok')"
    shown, hidden = feedback.without_hidden_tests(source)
    assert hidden and "f(2)" not in shown and "BEGIN" not in shown and "print('ok')" in shown
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="f doubles",
                                           traceback=["----> 3 assert f(2) == 4, 'f doubles'"])]
    cell, _ = feedback.HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert cell.outputs[0].traceback == ["AssertionError: f doubles"]


def test_a_network_is_judged_by_what_it_computes():
    expected = [{"type": "Dense", "units": 8, "activation": "relu"}, {"type": "Dense", "units": 2, "activation": "softmax"}]
    sequential = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8, activation="relu"),
                                   layers.Dense(2, activation="softmax")])
    inputs = keras.Input(shape=(4,))
    outputs = layers.Softmax()(layers.Dense(2)(layers.Activation("relu")(layers.Dense(8)(inputs))))
    for model in (sequential, keras.Model(inputs, outputs)):
        grading.check_layers(model, expected)


def test_a_layer_mismatch_shows_both_models_correctly_paired():
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dropout(0.5),
                              layers.Dense(1, activation="sigmoid")])
    with pytest.raises(AssertionError) as failure:
        grading.check_layers(model, [{"type": "Dense", "units": 8}, {"type": "Dense", "units": 1}])
    message = str(failure.value)
    assert "Your model: Dense(units=8) -> Dropout(rate=0.5) -> Dense(units=1)" in message, message
    assert "units=None" not in message and "rate=None" not in message


def test_subclassed_layers_and_fake_regularizers_do_not_pass():
    class MyDense(layers.Dense):
        pass

    model = keras.Sequential([keras.Input(shape=(4,)), MyDense(2, activation="softmax")])
    with pytest.raises(AssertionError, match="MyDense"):
        grading.check_layers(model, [{"type": "Dense", "units": 2}])
    with pytest.raises(AssertionError, match="L1, L2 or L1L2"):
        grading.check_regularizer(object(), l2=0.001)


def test_grading_refuses_without_a_sandbox_tool_unless_told(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap.*--unsafe-no-sandbox"):
        sandbox.require_bwrap()
    with pytest.raises(SystemExit, match="bubblewrap"):
        main(["autograde", "a3_regression", "--course", str(ROOT)])
    spec = sandbox.write_kernelspec(tmp_path, [(tmp_path, tmp_path)], tmp_path, sandboxed=False)
    assert json.loads((spec / "kernel.json").read_text())["argv"][1:4] == ["-P", "-m", "dlcourse.host.grading.watch"]


def test_the_sandbox_command_isolates_the_kernel(tmp_path):
    argv = sandbox.bwrap_argv([(tmp_path / "scratch", tmp_path / "notebook")], {"HOME": str(tmp_path)})
    for flag in ("--clearenv", "--unshare-all", "--die-with-parent", "--cap-drop"):
        assert flag in argv
    read_write = [argv[i + 1: i + 3] for i, a in enumerate(argv) if a == "--bind"]
    assert read_write == [[str(tmp_path / "scratch"), str(tmp_path / "notebook")]], \
        "only the submission's scratch folder may be writable"
    assert str(ROOT) not in [argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind"], \
        "the course directory (solutions, gradebook) must not be visible to the kernel"


def test_a_job_carries_the_release_version_the_submission_and_a_scoped_gradebook(tmp_path):
    from nbgrader.api import Gradebook
    from submissions import new_course, submit

    course = new_course(tmp_path / "course")
    submit(course, "alice", "a3_regression", student_version("a3_regression"))
    [job] = whole_class.make_jobs(course, "a3_regression", ["alice"], submission.Limits().for_course(Course.at(course)))
    assert set(job.release) == set(job.submission) == {"a3_regression.ipynb"}
    released = Course.at(course).release("a3_regression") / "a3_regression.ipynb"
    assert job.release["a3_regression.ipynb"] == released.read_bytes()
    scoped = tmp_path / "scoped.db"
    scoped.write_bytes(job.gradebook)
    with Gradebook(f"sqlite:///{scoped}") as gradebook:
        assert [a.name for a in gradebook.assignments] == ["a3_regression"] and gradebook.students == []


def _supervised(code, limits):
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    return process, submission._supervise(process, limits)


def test_the_wall_time_limit_stops_the_whole_process_tree():
    import psutil

    # This run's own child: another test run on the machine may have a `sleep 300` of its own.
    child = ["sleep", "300", f"0.{os.getpid()}"]
    code = f"import subprocess, time\nsubprocess.Popen({child!r})\ntime.sleep(300)"
    process, (error, _) = _supervised(code, submission.Limits(wall_seconds=3).for_course(Course.at(ROOT)))
    assert error and "wall-time limit of 3 s" in error
    assert process.poll() is not None
    assert not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == child], \
        "a child process outlived the limit"


def test_the_memory_limit_stops_a_memory_bomb():
    code = "import time\nhoard = [bytearray(50 * 2**20) for _ in range(40)]\ntime.sleep(60)"
    process, (error, peak) = _supervised(code, submission.Limits(memory_mb=500).for_course(Course.at(ROOT)))
    assert error and "memory limit of 500 MB" in error and peak > 500
    assert process.poll() is not None


@pytest.mark.parametrize("kept", ["open", "mapped only"])
def test_the_memory_limit_counts_memory_files_no_resident_memory_shows(kept):
    if kept == "mapped only" and os.geteuid() != 0:
        pytest.skip("a memory file only mapped is found through /proc/<pid>/map_files, which root may read")
    code = ("import mmap, os, time\nfiles = []\nfor _ in range(4):\n    fd = os.memfd_create('hoard')\n"
            "    os.posix_fallocate(fd, 0, 200 * 2**20)\n"
            f"    files.append(mmap.mmap(fd, 4096) if {kept == 'mapped only'} else fd)\n"
            f"    if {kept == 'mapped only'}:\n        os.close(fd)\ntime.sleep(60)")
    process, (error, peak) = _supervised(code, submission.Limits(memory_mb=500).for_course(Course.at(ROOT)))
    assert error and "memory limit of 500 MB" in error and peak > 500, (error, peak)


def test_a_memory_file_s_touched_pages_are_counted_once():
    code = ("import mmap, os, time\nfd = os.memfd_create('honest')\nos.ftruncate(fd, 300 * 2**20)\n"
            "m = mmap.mmap(fd, 300 * 2**20)\nfor at in range(0, len(m), 4096):\n    m[at] = 1\ntime.sleep(3)")
    process, (error, peak) = _supervised(code, submission.Limits(memory_mb=500).for_course(Course.at(ROOT)))
    assert error is None and 290 < peak < 400, (error, peak)


def test_the_judge_s_memory_limit_counts_what_a_submission_adds_never_what_its_setup_holds():
    """The setup holds 300 MB for every submission, more than a submission's limit of 200 MB."""
    setup = "import time\nimport numpy\nfrom dlcourse import grading\nheld = numpy.ones(300 * 2**17)\nkept = []"
    test = ("kept.append(numpy.ones(grading.value('kept MB') * 2**17))\n"
            "big = numpy.ones(grading.value('passing MB') * 2**17)\ntime.sleep(2)\nprint('fine')")
    cells = (judge.Cell("setup", setup, False), judge.Cell("test_a", test, True))
    job = types.SimpleNamespace(backend=backends.DEFAULT, limits=submission.Limits(memory_mb=200, threads=1))

    def evidence(kept, passing):
        return {"test_a": [{"question": {"value": "kept MB"}, "answer": kept},
                           {"question": {"value": "passing MB"}, "answer": passing}]}

    first = submission._judge_for(job, cells)
    try:
        assert first.setup_mb > 300
        assert first.judge(evidence(0, 100), 60, 200)["test_a"][0]["text"] == "fine\n"
        for _ in range(2):   # 120 MB each that the judge keeps: within the limit for each submission
            assert submission._judge_for(job, cells) is first
            assert first.judge(evidence(120, 0), 60, 200)["test_a"][0]["text"] == "fine\n"
        second = submission._judge_for(job, cells)
        assert second is not first and not first.alive(), "a judge grown by 240 MB past its setup was kept"
        with pytest.raises(judge.JudgeStopped, match="memory limit of 200 MB"):
            second.judge(evidence(0, 400), 60, 200)
        assert not second.alive()
    finally:
        submission._judges.pop(threading.get_ident()).close()


def test_the_process_limit_stops_a_fork_bomb_and_every_process_of_it():
    import psutil

    marker = f"0.{os.getpid()}1"
    code = (f"import subprocess, time\nkids = [subprocess.Popen(['sleep', '300', '{marker}']) "
            f"for _ in range({submission.MAX_PROCESSES * 3})]\ntime.sleep(300)")
    process, (error, _) = _supervised(code, submission.Limits(wall_seconds=120).for_course(Course.at(ROOT)))
    assert error and f"more than {submission.MAX_PROCESSES} processes" in error, error
    assert not [p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])], \
        "a process of the bomb outlived the limit"


def test_the_merge_keeps_the_submissions_files_for_feedback_but_no_link(tmp_path):
    """nbgrader's release_feedback needs timestamp.txt and submission_secret.txt in autograded/."""
    from dlcourse.host.grading import merge

    submitted, autograded = tmp_path / "submitted", tmp_path / "autograded"
    (submitted / "data").mkdir(parents=True)
    for name, text in {"timestamp.txt": "2027-01-10 10:00:00 UTC", "submission_secret.txt": "f00d",
                       "data/results.csv": "a,b\n", "a1.ipynb": "{}"}.items():
        (submitted / name).write_text(text)
    (submitted / "passwords").symlink_to("/etc/passwd")
    (submitted / "linked").symlink_to(tmp_path, target_is_directory=True)
    merge._copy_submitted_files(submitted, autograded)
    copied = sorted(str(p.relative_to(autograded)) for p in autograded.rglob("*") if p.is_file())
    assert copied == ["data/results.csv", "submission_secret.txt", "timestamp.txt"]
    assert (autograded / "submission_secret.txt").read_text() == "f00d"


def _compiled_with(optimizer):
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_an_optimizer_of_ones_own_cannot_pass_for_keras_s(monkeypatch):
    """The check accepts the classes Keras itself makes (PyTorch's RMSprop is a
    subclass of Keras's); a student's subclass that claims a Keras module
    either rebuilds as Keras's own class or is refused."""
    assert type(grading.plain_copy(_compiled_with("rmsprop")).optimizer) in grading.KERAS_OPTIMIZERS

    class RMSprop(keras.optimizers.RMSprop):  # same name, a module of Keras's: rebuilt as Keras's own
        __module__ = "keras.optimizers"

        def apply(self, grads, trainable_variables=None):
            raise AssertionError("the student's optimizer ran in the grader's copy")

    copy = grading.plain_copy(_compiled_with(RMSprop()))
    assert type(copy.optimizer) is not RMSprop and type(copy.optimizer) in grading.KERAS_OPTIMIZERS

    class Sneaky(keras.optimizers.RMSprop):  # put among Keras's optimizers after the helpers were imported
        __module__ = "keras.optimizers"

    monkeypatch.setattr(keras.optimizers, "Sneaky", Sneaky, raising=False)
    with pytest.raises(AssertionError):
        grading.plain_copy(_compiled_with(Sneaky()))


def test_a_python_without_the_course_package_is_told_to_install_it():
    sandbox.require_provisioner()  # this environment has it (make venv)
    with pytest.raises(sandbox.SandboxUnavailable, match="provisioner 'not-installed' is missing.*Fix: `make venv`"):
        sandbox.require_provisioner("not-installed")


def test_reasons_show_a_student_s_control_characters_escaped():
    """A path chosen by a student cannot clear the instructor's screen, forge a line or write the clipboard."""
    attempt = {"action": "read", "path": "/x\x1b[2J\x1b]52;c;aGk=\x07\nAll submissions graded, none for review",
               "refused": False}
    reason = merge.printable(submission.describe_attempt(attempt, "/course"))
    assert "\x1b" not in reason and "\x07" not in reason and "\n" not in reason, reason
    assert "\\x1b[2J" in reason and "\\nAll submissions graded" in reason
    undecodable = submission.describe_decoy("/course/submitted/x\udcff\ud800", "/course")
    assert undecodable.encode() and "<course>/submitted/x\\xed\\xb3\\xbf" in undecodable, undecodable
