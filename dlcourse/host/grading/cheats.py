"""Host side: find code in a submission that tampers with its grading.

The student's cells (solution cells and cells they added) are read as Python
after IPython's own syntax transformation, never run. Each finding is a short
reason for the instructor. None of what an honest solution of this course
needs is flagged: building, training and evaluating Keras models, NumPy,
pandas, matplotlib, printing, and the magics ``%matplotlib``, ``%time`` and
``%timeit``.
"""

import ast
import re

from IPython.core.inputtransformer2 import TransformerManager

# Modules whose only use in a submission here is to reach past the task:
# other processes, files, the kernel and the grader's own machinery.
FORBIDDEN_MODULES = {
    "subprocess", "socket", "ctypes", "shutil", "importlib", "inspect", "gc", "builtins", "sqlite3",
    "multiprocessing", "threading", "signal", "pty", "marshal", "IPython", "ipykernel", "zmq",
    "jupyter_client", "nbformat", "nbgrader", "nbclient", "psutil", "fcntl", "runpy",
}
# Names that reach the interpreter's or IPython's internals, or the grader's frames.
FORBIDDEN_NAMES = {
    "exec", "eval", "compile", "__import__", "globals", "vars", "setattr", "delattr", "get_ipython",
    "__builtins__", "breakpoint", "In", "Out", "_ih", "_oh", "_dh", "_i", "_ii", "_iii",
}
# Attributes that reach the interpreter's internals or the grader's frames, whatever they are on.
INTERNAL_ATTRIBUTES = {
    "__dict__", "__globals__", "__code__", "__closure__", "__subclasses__", "__builtins__", "__bases__",
    "__mro__", "f_back", "f_globals", "f_locals", "f_builtins", "tb_frame", "gi_frame", "cr_frame",
    "input_transformers_cleanup", "input_transformers_post", "ast_transformers",
}
# Functions of os, sys, shutil, signal and pathlib that act on files, processes or the interpreter.
SYSTEM_ATTRIBUTES = {
    "system", "popen", "fork", "forkpty", "kill", "killpg", "remove", "unlink", "rmdir", "removedirs",
    "rename", "replace", "chmod", "chown", "symlink", "link", "putenv", "unsetenv", "execv", "execve",
    "execvp", "spawnv", "spawnl", "rmtree", "_getframe", "modules", "meta_path", "path_hooks",
    "settrace", "setprofile", "addaudithook", "environ", "_exit", "dup", "dup2", "close", "closerange",
    "lseek", "ftruncate", "truncate", "fdopen", "mkfifo",
}
SYSTEM_MODULES = {"os", "sys", "shutil", "signal", "pathlib", "Path"}
# Special methods that let an object answer a comparison or a check in its own favour.
FAKING_METHODS = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__hash__",
                  "__instancecheck__", "__subclasscheck__", "__getattr__", "__getattribute__",
                  "__float__", "__int__", "__index__", "__len__", "__contains__", "__array__"}
# What a test reads from training, evaluation and a model's description: a class
# of the student's that defines one of these (or code that replaces it on an
# object) can report what the model never did.
TRAINING_MEMBERS = {
    "fit", "evaluate", "predict", "train_step", "test_step", "predict_step", "compute_loss", "compute_metrics",
    "make_train_function", "make_test_function", "make_predict_function", "train_function", "test_function",
    "predict_function", "get_config", "get_compile_config", "get_weights", "layers", "weights", "history",
    "compiled", "loss", "optimizer", "metrics", "metrics_names",
}
SAFE_MAGICS = {"matplotlib", "time", "timeit"}
# Environment variables that tell code it is being graded, or where the grader is.
GRADER_VARIABLES = ("NBGRADER", "JUPYTER", "JPY", "DLCOURSE")
# dlcourse.grading.run_by_nbgrader: a student function that calls it behaves one way when graded.
# grading.judging tells the graded kernel from the judge; grading.grading is run_by_nbgrader's old name.
ASKS_IF_GRADED = {"run_by_nbgrader", "judging", "grading"}


def python_source(cell_source):
    """Return a cell's source as plain Python (IPython magics and ``!`` shell
    lines become calls), or None if it is not valid Python."""
    try:
        code = TransformerManager().transform_cell(cell_source)
        return code if ast.parse(code) is not None else None
    except (SyntaxError, ValueError):
        return None


def _magic(node):
    """Return (kind, name, body) for ``get_ipython().run_*_magic(name, ...)``, else None."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"run_line_magic", "run_cell_magic", "system", "getoutput"}
            and isinstance(node.func.value, ast.Call) and getattr(node.func.value.func, "id", "") == "get_ipython"):
        args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
        return node.func.attr, (args[0] if args else None), (args[2] if len(args) > 2 else None)
    return None


def _root_name(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _bound_names(tree):
    """Names a piece of code binds at module level (assignments, imports, defs)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Global):
            names.update(node.names)
    return names


def _module_level_bindings(tree):
    """Names bound at the top level of a cell, or declared ``global`` anywhere in it."""
    names = set()
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
        else:
            names |= _bound_names(statement)
    names.update(n for node in ast.walk(tree) if isinstance(node, ast.Global) for n in node.names)
    return names


def protected_names(test_sources, setup_sources):
    """Names the tests read that the locked setup cells define (``grading``,
    ``keras``, the data arrays, ...): a student cell must not rebind them."""
    setup = set()
    for source in setup_sources:
        code = python_source(source)
        if code:
            setup |= _bound_names(ast.parse(code))
    used = set()
    for source in test_sources:
        code = python_source(source)
        if code:
            tree = ast.parse(code)
            used |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return used & setup


def _environment_uses(tree):
    """Return (ids of ``os.environ`` nodes used with one constant, harmless key,
    reasons for uses of the grader's variables). ``os.environ["TF_CPP_MIN_LOG_LEVEL"]``
    is ordinary; ``os.environ.get("NBGRADER_EXECUTION")`` asks whether it is graded."""
    harmless, reasons = set(), []
    for node in ast.walk(tree):
        key, environ = None, None
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            environ, key = node.value, node.slice
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
              and (ast.unparse(node.func.value) == "os.environ" and node.func.attr in {"get", "setdefault", "pop"}
                   or ast.unparse(node.func) == "os.getenv")):
            environ, key = node.func.value if node.func.attr != "getenv" else node.func, node.args[0]
        if environ is None or not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            continue
        if key.value.upper().startswith(GRADER_VARIABLES):
            reasons.append(f"reads the grader's environment variable {key.value}")
        else:
            harmless.add(id(environ))
    return harmless, reasons


def _flatten(targets):
    """Yield assignment targets, with tuple and list targets taken apart."""
    for target in targets:
        if isinstance(target, (ast.Tuple, ast.List)):
            yield from _flatten(target.elts)
        elif isinstance(target, ast.Starred):
            yield from _flatten([target.value])
        else:
            yield target


def _string_path(node):
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)
            and (node.value.startswith(("/", "~")) or "../" in node.value or node.value == ".."))


def _import_reasons(node):
    if isinstance(node, ast.Import):
        modules = [a.name for a in node.names]
    else:
        modules = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
    reasons = [f"imports {m}" for m in sorted({m.split(".")[0] for m in modules} & FORBIDDEN_MODULES)]
    if isinstance(node, ast.ImportFrom) and node.module in SYSTEM_MODULES:
        reasons += [f"imports {node.module}.{a.name}" for a in node.names if a.name in SYSTEM_ATTRIBUTES]
    return reasons


def _class_reasons(node):
    """Reasons for a class that redefines what training reports: a training
    member (:data:`TRAINING_MEMBERS`), or a callback that changes the logs."""
    reasons = []
    for member in node.body:
        names = [member.name] if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)) else [
            t.id for t in _flatten(getattr(member, "targets", [getattr(member, "target", None)])) if isinstance(t, ast.Name)]
        reasons += [f"defines {node.name}.{name}, which can change what training reports"
                    for name in names if name in TRAINING_MEMBERS]
        if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)) and member.name.startswith("on_"):
            changed = [n for n in ast.walk(member) if isinstance(n, (ast.Subscript, ast.Attribute))
                       and isinstance(n.ctx, ast.Store) and _root_name(n) == "logs"]
            updated = [n for n in ast.walk(member) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                       and _root_name(n.func) == "logs" and n.func.attr in {"update", "pop", "setdefault", "clear"}]
            if changed or updated:
                reasons.append(f"{node.name}.{member.name} changes the training logs")
    return reasons


def _assignment_reasons(node, owned):
    """Reasons for assigning to an attribute of a module or a name the tests use (``owned``)."""
    targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
    reasons = []
    for target in _flatten(targets):
        if isinstance(target, ast.Attribute) and (_root_name(target) in owned or target.attr.startswith("__")):
            reasons.append(f"changes {ast.unparse(target)}, which belongs to a module or the tests")
        if isinstance(target, ast.Subscript) and ast.unparse(target.value) == "sys.modules":
            reasons.append("changes sys.modules")
        if isinstance(target, ast.Attribute) and target.attr in TRAINING_MEMBERS and target.attr != "history":
            reasons.append(f"replaces {ast.unparse(target)}, which can change what training reports")
    return reasons


def _node_reasons(node, owned):
    """The tampering reasons one syntax node gives, by itself."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return _import_reasons(node)
    if isinstance(node, ast.Name) and (node.id in FORBIDDEN_NAMES or re.fullmatch(r"_i+\d+|_\d+", node.id)):
        return [f"uses {node.id}"]
    if isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES:
        return [f"uses .{node.attr}"]
    if isinstance(node, ast.Attribute) and node.attr in SYSTEM_ATTRIBUTES and _root_name(node) in SYSTEM_MODULES:
        return [f"uses {ast.unparse(node)}"]
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        return _assignment_reasons(node, owned)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in FAKING_METHODS:
        return [f"defines {node.name}, which can fake a comparison or a check"]
    if isinstance(node, ast.ClassDef):
        return _class_reasons(node)
    if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and len(node.args) >= 2
            and not isinstance(node.args[1], ast.Constant)):
        return ["uses getattr with a computed name"]
    if _string_path(node) and len(node.value) > 1:
        return [f"names the path {node.value!r}, outside its own folder"]
    return []


def _magic_reasons(magic, protected, imported_modules):
    kind, name, body = magic
    if kind in {"system", "getoutput"}:
        return ["runs a shell command (`!`)"]
    if name not in SAFE_MAGICS:
        return [f"uses the magic %{name}"]
    return scan_code(body, protected, imported_modules) if body else []


def scan_code(source, protected, imported_modules):
    """Return the reasons one student cell's code looks like tampering."""
    code = python_source(source)
    if code is None:
        return []
    tree = ast.parse(code)
    skip, reasons = _environment_uses(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        magic = _magic(node)
        if magic:
            skip |= {id(n) for n in ast.walk(node)}  # the magic call itself is judged here, once
            reasons += _magic_reasons(magic, protected, imported_modules)
        else:
            reasons += _node_reasons(node, imported_modules | protected)
    for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        if any(isinstance(n, ast.Attribute) and n.attr in ASKS_IF_GRADED for n in ast.walk(function)):
            reasons.append(f"{function.name} asks whether it is being graded")
    rebound = sorted(_module_level_bindings(tree) & protected)
    return reasons + [f"rebinds {name}, which the tests use" for name in rebound]


def scan_notebook(notebook, locked_sources=None):
    """Return the tampering reasons (sorted, without repeats) found in the
    student cells of an autograded notebook (an nbformat NotebookNode).

    ``locked_sources`` ({grade_id: source} of the gradebook's locked cells)
    tells the instructor's cells: those nbgrader restored, whose source is
    the gradebook's. Every other code cell is the student's and is scanned,
    whatever its metadata says. Without it, cells are told apart by their
    nbgrader metadata (a notebook outside a course).
    """
    def meta(cell):
        return cell.metadata.get("nbgrader", {})

    def instructors(cell):
        if locked_sources is None:
            return meta(cell).get("locked") or (meta(cell).get("grade") and not meta(cell).get("solution"))
        return locked_sources.get(meta(cell).get("grade_id")) == cell.source and not meta(cell).get("solution")

    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    tests = [c.source for c in code_cells if instructors(c) and meta(c).get("grade")]
    locked = [c.source for c in code_cells if instructors(c) and not meta(c).get("grade")]
    student = [c.source for c in code_cells if not instructors(c)]
    protected = protected_names(tests, locked)
    modules = set()
    for source in locked + student:
        code = python_source(source)
        if code:
            modules |= {(a.asname or a.name).split(".")[0] for n in ast.walk(ast.parse(code))
                        if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    reasons = []
    for source in student:
        reasons += scan_code(source, protected, modules | {"os", "sys"})
    return sorted(set(reasons))
