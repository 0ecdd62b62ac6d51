"""The package's preprocessing helpers are the code Lecture 2 teaches.

Lecture 2 writes ``vectorize_sequences`` and ``decode`` in its cells; later
notebooks import them from ``dlcourse.preprocessing``. The two copies must
be the same code (docstrings aside), so that "the functions we wrote in the
IMDB lecture" stays true.
"""

import ast
import copy
import inspect

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

from conftest import ROOT
from dlcourse import preprocessing

TAUGHT_IN = ROOT / "lectures" / "02_imdb.ipynb"
SHARED = ("vectorize_sequences", "decode")


def without_docstring(function):
    """Return the function's AST as text, without its docstring."""
    function = copy.deepcopy(function)
    first = function.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        function.body = function.body[1:]
    return ast.dump(function)


def functions_in(source):
    return {node.name: node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}


def test_the_package_holds_the_code_the_imdb_lecture_teaches():
    cells = nbformat.read(TAUGHT_IN, as_version=4).cells
    lecture = {}
    for cell in cells:
        if cell.cell_type == "code":
            lecture.update(functions_in(TransformerManager().transform_cell(cell.source)))
    package = functions_in(inspect.getsource(preprocessing))
    for name in SHARED:
        assert name in lecture, f"{TAUGHT_IN.name} no longer defines {name}"
        assert without_docstring(lecture[name]) == without_docstring(package[name]), (
            f"dlcourse/preprocessing.py's {name} differs from the one {TAUGHT_IN.name} teaches: make them the same")


def test_the_comparison_sees_a_changed_body():
    changed = functions_in(inspect.getsource(preprocessing).replace('reverse.get(i, "?")', 'reverse.get(i, "_")'))
    package = functions_in(inspect.getsource(preprocessing))
    assert without_docstring(changed["decode"]) != without_docstring(package["decode"])
