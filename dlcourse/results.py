"""Record a notebook's key metrics where the runner and the tests can read them (kernel side).

A lecture calls ``record(test_accuracy=acc)``. The values are displayed as an
output with their own MIME type, so they are stored in the executed notebook
itself, next to the cell that computed them, and nothing scrapes printed text.
Each record also names the Keras backend the values were computed on (in the
output's metadata). :func:`dlcourse.host.lectures.recorded.read` reads them back on
the host.
"""

import numbers
import sys

MIME_TYPE = "application/vnd.dlcourse.results+json"


def _plain(name, value):
    """Return ``value`` as a JSON number or list of numbers.

    Raises:
        TypeError: the value is not a number or a sequence of numbers.
    """
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _plain(name, value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(name, v) for v in value]
    raise TypeError(f"record({name}=...) takes a number or a list of numbers, not {type(value).__name__}.")


def _running_backend():
    """Return the name of the backend Keras runs on, or None when the
    notebook has not imported Keras."""
    keras = sys.modules.get("keras")
    return keras.backend.backend() if keras is not None else None


def record(**values):
    """Display ``values`` as recorded results and return them as plain numbers.

    Raises:
        TypeError: a value is not a number or a list of numbers.
    """
    from IPython.display import display

    plain = {name: _plain(name, value) for name, value in values.items()}
    text = ", ".join(f"{k} = {v:.4f}" if isinstance(v, float) else f"{k} = {v}" for k, v in plain.items())
    display({MIME_TYPE: plain, "text/plain": f"Recorded: {text}"},
            metadata={MIME_TYPE: {"keras_backend": _running_backend()}}, raw=True)
    return plain

