"""Kernel side: what a test cell asks of the student's code, as data.

A test cell asks for the student's answers through :func:`answer` (call one
of the student's functions) and :func:`value` (read one of the student's
variables), and judges what comes back. What comes back is never an object
the student's code made: the answer is encoded as data (:func:`encode`:
JSON with numbers, arrays, Keras configs; never a pickle) and decoded again
(:func:`decode`: models rebuilt from their configs with Keras's own classes
only). Where the notebook runs decides the rest:

- **your own kernel** (JupyterLab, Validate): the function is called, and
  the test reads the decoded copy of its result, as the judge will;
- **the graded kernel** (``NBGRADER_EXECUTION=autograde``, in the sandbox):
  the same, and each question with its encoded answer is also published as
  an output of the test cell (:data:`MIME`). This kernel's verdicts count
  for nothing;
- **the judge** (:mod:`dlcourse.host.grading.judge`), a process that never runs any
  student code: nothing is called; the k-th question of a test cell gets the
  k-th answer that cell published, decoded, if the question is the same.
  Its verdicts are the grades.

:class:`FitRecorder` stands in for training: the grader's own models, whose
``fit`` records how it was called and trains nothing.
"""

import base64
import contextlib
import hashlib
import inspect
import json
import math
import os
from dataclasses import dataclass

import numpy as np

# Keras is imported where it is used: the grading workers read MIME from here without starting Keras.
MIME = "application/vnd.dlcourse.evidence+json"
INLINE_ELEMENTS = 100_000     # a larger array in a question or a fit's data travels as its fingerprint
MAX_ELEMENTS = 4_000_000      # no answer array is larger
MAX_DEPTH = 32                # nesting of lists and dicts
MAX_TEXT = 100_000            # characters of one string
MAX_UNITS = 100_000           # units of one layer of a rebuilt model
MAX_LAYERS = 200
MAX_WEIGHTS = 50_000_000      # weights of a rebuilt model's Dense layers (the course's largest has 2.6 million)
ARRAY_KINDS = "biuf"          # bool, int, unsigned, float
REGULARIZERS = ("L1", "L2", "L1L2")
# The only layers a rebuilt model may have: those the assignments ask for. Any other (a Lambda, which
# carries code; an Embedding, whose size the weight count below does not see) is refused.
MODEL_LAYERS = {"InputLayer", "Dense", "Dropout", "Activation", "ReLU", "Softmax"}
MAX_DIMENSION = 1_000_000     # of an input shape


class AnswerError(AssertionError):
    """An answer cannot be judged: it is not data the judge can read."""


@dataclass(frozen=True)
class Fingerprint:
    """A large array, known by its shape and the SHA-256 of its values as float64."""
    shape: tuple
    sha256: str


@dataclass
class Fit:
    """One call of a recorded model's ``fit``: the arguments, and the history it returned."""
    model: int                 # which of the recorder's models, numbered from 0 as they were made
    x: object
    y: object
    validation_data: object    # a tuple (x, y), or None
    validation_split: object
    epochs: object
    batch_size: object
    history: dict              # what fit returned in History.history (made-up numbers, see made_up_history)


class Opaque:
    """Stands for an object the judge cannot read: its class name only."""

    def __repr__(self):
        return f"<a {type(self).__name__}>"


def fingerprint(array):
    """Return the Fingerprint of an array's values (in float64, so that the dtype does not matter)."""
    array = np.asarray(array)
    digest = hashlib.sha256()
    rows = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(1, -1)
    for start in range(0, len(rows), 1024):
        digest.update(np.ascontiguousarray(rows[start:start + 1024], dtype="<f8").tobytes())
    return Fingerprint(tuple(int(n) for n in array.shape), digest.hexdigest())


_known = {}   # id of one of the judge's own arrays -> (the array, its Fingerprint)


def same_data(recorded, array):
    """True when ``recorded`` (an array or a Fingerprint from a question or
    a fit) holds the same values as ``array``, the test's own (whose
    fingerprint is computed once)."""
    if isinstance(recorded, Fingerprint):
        if id(array) not in _known or _known[id(array)][0] is not array:
            _known[id(array)] = (array, fingerprint(array))
        return recorded == _known[id(array)][1]
    try:
        return np.shape(recorded) == np.shape(array) and bool(np.array_equal(np.asarray(recorded, dtype="f8"),
                                                                             np.asarray(array, dtype="f8")))
    except (TypeError, ValueError):
        return False


# --- encoding, in the kernel that ran the student's code ----------------------------------------------------------


def _encode_array(array, fingerprint_above):
    if array.dtype.kind not in ARRAY_KINDS or array.dtype.fields:
        return {"__object__": f"ndarray of {array.dtype}"}
    if fingerprint_above is not None and array.size > fingerprint_above:
        found = fingerprint(array)
        return {"__fingerprint__": {"shape": list(found.shape), "sha256": found.sha256}}
    if array.size > MAX_ELEMENTS:
        return {"__object__": f"array of {array.size:,} numbers (more than {MAX_ELEMENTS:,})"}
    array = np.ascontiguousarray(array)
    return {"__ndarray__": {"dtype": array.dtype.str, "shape": list(array.shape),
                            "data": base64.b64encode(array.tobytes()).decode()}}


def _encode_model(model):
    import keras

    try:
        config = model.get_config()
        compiled = model.get_compile_config() if model.compiled else None
    except Exception as error:  # a model class of one's own without a config
        return {"__unbuildable__": type(model).__name__, "error": f"{type(error).__name__}: {error}"[:500]}
    kind = "Sequential" if isinstance(model, keras.Sequential) else "Functional"
    return {"__model__": {"class": kind, "config": encode(config), "compile": encode(compiled)}}


def encode(value, fingerprint_above=None, depth=0):
    """Return ``value`` as JSON-ready data: None, booleans, numbers, strings,
    lists, tuples, dicts, numpy arrays and scalars, Keras models (their
    config and compile config), Keras regularizers and backend tensors.
    Anything else becomes its class name only. Arrays with more than
    ``fingerprint_above`` numbers become their fingerprint.

    Raises:
        AnswerError: nested deeper than MAX_DEPTH.
    """
    if depth > MAX_DEPTH:
        raise AnswerError(f"The answer is nested more than {MAX_DEPTH} levels deep.")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value[:MAX_TEXT] if kind is str else value
    if kind is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if kind in (list, tuple):
        items = [encode(v, fingerprint_above, depth + 1) for v in value]
        return items if kind is list else {"__tuple__": items}
    if kind is dict:
        return {"__dict__": [[encode(k, fingerprint_above, depth + 1), encode(v, fingerprint_above, depth + 1)]
                             for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        return _encode_array(np.asarray(value), fingerprint_above)
    if isinstance(value, (np.bool_, np.number)) and value.dtype.kind in ARRAY_KINDS:
        return {"__scalar__": value.dtype.str, "value": encode(value.item())}
    return _encode_keras(value, fingerprint_above)


def _encode_keras(value, fingerprint_above):
    import keras

    recorded = getattr(value, "_dlcourse_recorded", None)
    if isinstance(recorded, int):
        return {"__recorded_model__": recorded}
    if isinstance(value, keras.Model):
        return _encode_model(value)
    if type(value).__name__ in REGULARIZERS and type(value) is getattr(keras.regularizers, type(value).__name__):
        return {"__regularizer__": type(value).__name__, "config": encode(value.get_config())}
    if keras.ops.is_tensor(value):
        return _encode_array(np.asarray(keras.ops.convert_to_numpy(value)), fingerprint_above)
    return {"__object__": type(value).__name__}


# --- decoding, wherever a verdict is made ------------------------------------------------------------------------


def _opaque(name):
    name = "".join(ch for ch in str(name) if ch.isalnum() or ch == "_")[:60] or "object"
    return type(name, (Opaque,), {})()


def _decode_array(spec):
    dtype = np.dtype(str(spec["dtype"]))
    shape = tuple(int(n) for n in spec["shape"])
    if (dtype.kind not in ARRAY_KINDS or dtype.fields or any(n < 0 or n > MAX_ELEMENTS for n in shape)
            or math.prod(shape) > MAX_ELEMENTS):
        raise AnswerError("An array in the answer has a type or a size the judge does not read.")
    data = base64.b64decode(str(spec["data"]), validate=True)
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise AnswerError("An array in the answer does not hold as many numbers as its shape says.")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def decode(data, depth=0):
    """Return the value that :func:`encode` made ``data`` from, rebuilt by
    this process: Python's own types, numpy arrays, Keras's own models and
    regularizers; an object it cannot read becomes an :class:`Opaque` of
    the same class name.

    Raises:
        AnswerError: ``data`` is not what :func:`encode` makes, or a model in
            it cannot be rebuilt with Keras's own classes.
    """
    if depth > MAX_DEPTH:
        raise AnswerError(f"The answer is nested more than {MAX_DEPTH} levels deep.")
    if data is None or type(data) in (bool, int, float):
        return data
    if type(data) is str:
        return data[:MAX_TEXT]
    if type(data) is list:
        return [decode(v, depth + 1) for v in data]
    if type(data) is not dict or len(data) not in (1, 2, 3):
        raise AnswerError("The answer is not data the judge reads.")
    try:
        return _decode_tagged(data, depth)
    except AnswerError:
        raise
    except Exception as error:  # malformed data of any kind
        raise AnswerError(f"The answer is not data the judge reads ({type(error).__name__}).") from None


def _decode_tagged(data, depth):
    tag = next(iter(data))
    if tag == "__float__" and data[tag] in ("nan", "inf", "-inf"):
        return float(data[tag])
    if tag == "__tuple__":
        return tuple(decode(data[tag], depth + 1))
    if tag == "__dict__":
        pairs = [(decode(k, depth + 1), decode(v, depth + 1)) for k, v in data[tag]]
        return dict(pairs)
    if tag == "__ndarray__":
        return _decode_array(data[tag])
    if tag == "__fingerprint__":
        spec = data[tag]
        return Fingerprint(tuple(int(n) for n in spec["shape"]), str(spec["sha256"]))
    if tag == "__scalar__":
        dtype = np.dtype(str(data[tag]))
        if dtype.kind not in ARRAY_KINDS or dtype.fields:
            raise AnswerError("A number in the answer has a type the judge does not read.")
        return dtype.type(decode(data["value"], depth + 1))
    if tag == "__object__":
        return _opaque(data[tag])
    if tag == "__recorded_model__":
        return RecordedModel(int(data[tag]))
    if tag == "__regularizer__":
        return _decode_regularizer(data[tag], decode(data["config"], depth + 1))
    if tag == "__model__":
        return _decode_model(data[tag], depth)
    if tag == "__unbuildable__":
        raise AnswerError(_UNBUILDABLE.format(error=str(data.get("error"))[:500]))
    raise AnswerError("The answer is not data the judge reads.")


_UNBUILDABLE = ("Build the model with keras.Sequential or keras.Model(inputs, outputs) from Keras's own layers; "
                "this one cannot be rebuilt from its config ({error}).")


@dataclass(frozen=True)
class RecordedModel:
    """In a question: one of a FitRecorder's models, by its number."""
    number: int


def _decode_regularizer(name, config):
    import keras

    if name not in REGULARIZERS or type(config) is not dict:
        raise AnswerError("The answer holds a regularizer the judge does not read.")
    factors = {k: float(v) for k, v in config.items() if k in ("l1", "l2") and type(v) in (int, float)}
    return getattr(keras.regularizers, name)(**factors)


def _check_keras_only(config, what, depth=0):
    """Raise AnswerError unless every object a serialized config names is Keras's own."""
    if depth > MAX_DEPTH * 2:
        raise AnswerError("The model's config is nested too deep.")
    if isinstance(config, dict):
        module = config.get("module")
        if "class_name" in config and not isinstance(module, str):
            # Keras loads an object without a module the old way, outside its safe mode (a Lambda's code).
            raise AnswerError(f"Compile and build with Keras's own {what}: {config['class_name']!r} names no module.")
        if isinstance(module, str) and "class_name" in config:
            # Keras serializes its own functions (keras.losses.binary_crossentropy) as "builtins" functions.
            keras_function = (module == "builtins" and config.get("class_name") == "function"
                              and _is_keras_function(config.get("config")))
            if not (keras_function or ((module == "keras" or module.startswith("keras."))
                                       and config.get("registered_name") in (None, config["class_name"]))):
                shown = config.get("config") if module == "builtins" else config["class_name"]
                raise AnswerError(f"Compile and build with Keras's own {what}: {shown} is not one of them.")
        for key, value in config.items():
            if key == "units" and (not isinstance(value, int) or not 0 < value <= MAX_UNITS):
                raise AnswerError(f"A layer has {value!r} units; the judge rebuilds layers of 1 to {MAX_UNITS:,}.")
            _check_keras_only(value, what, depth + 1)
    elif isinstance(config, list):
        for value in config:
            _check_keras_only(value, what, depth + 1)


def _is_keras_function(name):
    import keras

    if not isinstance(name, str):
        return False
    for module in (keras.losses, keras.metrics, keras.activations):
        if callable(getattr(module, name, None)) and not isinstance(getattr(module, name), type):
            return True
    return False


def _weights(config):
    """Return about how many weights the Dense layers of a model's config have."""
    width, total = 1, 0
    for layer in config.get("layers", []):
        inner = layer.get("config", {}) if isinstance(layer, dict) else {}
        shape = inner.get("batch_shape") or inner.get("batch_input_shape") if isinstance(inner, dict) else None
        if isinstance(shape, (list, tuple)) and shape and isinstance(shape[-1], int):
            width = shape[-1]
        if isinstance(inner, dict) and isinstance(inner.get("units"), int):
            total, width = total + width * inner["units"], inner["units"]
    return total


def _decode_model(spec, depth):
    import keras

    config, compiled = decode(spec["config"], depth + 1), decode(spec["compile"], depth + 1)
    if type(config) is not dict or type(config.get("layers")) is not list:
        raise AnswerError("The answer holds a model config the judge does not read.")
    for layer in config["layers"]:
        kind = layer.get("class_name") if isinstance(layer, dict) else None
        if kind not in MODEL_LAYERS:
            raise AnswerError(f"Build the model from the layers the task asks for ({', '.join(sorted(MODEL_LAYERS))});"
                              f" {kind!r} is not one of them.")
        shape = (layer.get("config") or {}).get("batch_shape") if isinstance(layer.get("config"), dict) else None
        sizes_read = isinstance(shape, (list, tuple)) and all(
            n is None or (type(n) is int and 0 < n <= MAX_DIMENSION) for n in shape)
        if shape is not None and not sizes_read:
            raise AnswerError(f"The model's input shape {shape} is not one the judge rebuilds.")
    _check_keras_only(config, "layers")
    if compiled is not None:
        _check_keras_only(compiled, "optimizer, loss and metrics")
    if len(config.get("layers", [])) > MAX_LAYERS:
        raise AnswerError(f"The model has more than {MAX_LAYERS} layers.")
    if _weights(config) > MAX_WEIGHTS:
        raise AnswerError(f"The model has more than {MAX_WEIGHTS:,} weights: far more than the task needs.")
    from keras.src.saving.serialization_lib import SafeModeScope

    base = keras.Sequential if spec["class"] == "Sequential" else keras.Model
    try:
        with SafeModeScope(True):   # never code from a config, whatever a student's kernel set
            model = base.from_config(config)
            if compiled is not None:
                model.compile_from_config(compiled)
    except Exception as error:  # Keras raises many kinds for a config it cannot rebuild
        raise AnswerError(_UNBUILDABLE.format(error=f"{type(error).__name__}: {error}"[:500])) from None
    return model


# --- asking ------------------------------------------------------------------------------------------------------


class _Replay:
    """The judge's answers for one test cell, in the order the cell asks."""

    def __init__(self, items):
        self.items, self.next = list(items), 0


_replay = None    # set by the judge (replaying); None in a kernel that runs student code


@contextlib.contextmanager
def replaying(items):
    """Context for the judge: the questions asked inside get ``items`` (the
    evidence one test cell published), in order, instead of calling anything."""
    global _replay
    before, _replay = _replay, _Replay(items)
    try:
        yield
    finally:
        _replay = before


def judging():
    """True where this kernel's verdicts count: in the judge, and in your own
    kernel (Validate); False in the graded copy of your kernel, which only
    gathers answers (so the grader's own training runs once, in the judge)."""
    return _replay is not None or os.environ.get("NBGRADER_EXECUTION") != "autograde"


def _user_namespace():
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("grading.answer runs in a notebook: there is no IPython kernel here.")
    return shell.user_ns


def _raised(error):
    kind = next(k for k in type(error).__mro__ if k.__module__ == "builtins")
    return {"type": kind.__name__, "message": str(error)[:2000]}


def _reraise(raised):
    import builtins

    kind = getattr(builtins, str(raised.get("type")), None)
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        kind = Exception
    try:
        error = kind(str(raised.get("message", "")))
    except Exception:
        error = Exception(str(raised.get("message", "")))
    raise error


def _publish(item):
    from IPython.display import display

    display({MIME: item}, raw=True)


def _ask(question, run, recorder=None, arguments=None):
    """Answer one question: replayed in the judge, else ``run()`` with the
    answer encoded, decoded (and published in the graded kernel). With
    ``arguments`` (the call's arguments), return the answer and the
    arguments as they were after the call."""
    if _replay is not None:
        return _replayed(question, recorder, arguments is not None)
    item = {"question": question}
    fits_before = len(recorder.recorded) if recorder else 0
    try:
        item["answer"] = encode(run())
    except Exception as error:
        item["raised"] = _raised(error)
    if arguments is not None:
        item["after"] = encode(arguments, INLINE_ELEMENTS)
    if recorder:
        item["fits"] = recorder.recorded[fits_before:]
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        _publish(item)
    return _answered(item, recorder, arguments is not None)


def _answered(item, recorder, with_arguments=False):
    if recorder:
        recorder.take(item.get("fits") or [])
    if "raised" in item:
        _reraise(item["raised"] if type(item["raised"]) is dict else {})
    if "answer" not in item or (with_arguments and "after" not in item):
        raise AnswerError("The graded kernel sent a question without an answer.")
    result = decode(item["answer"])
    if not with_arguments:
        return result
    after = decode(item["after"])
    if not (type(after) is list and len(after) == 2 and type(after[0]) is list and type(after[1]) is dict):
        raise AnswerError("The graded kernel sent arguments the judge does not read.")
    return result, (tuple(after[0]), after[1])


def _replayed(question, recorder, with_arguments):
    replay = _replay
    if replay.next >= len(replay.items):
        raise AnswerError("Your kernel gave no answer to this test: it stopped before it, or the answer was removed. "
                          "Run your notebook from the top (Kernel > Restart and Run All) and check for errors.")
    item = replay.items[replay.next]
    replay.next += 1
    if type(item) is not dict or item.get("question") != question:
        raise AnswerError("Your kernel answered a different question than this test asks: something in your "
                          "notebook changed the test's inputs (an array changed in place, or a name the tests "
                          "use rebound). Fix: leave the data and the test cells as they are.")
    return _answered(item, recorder, with_arguments)


def answer(name, *args, **kwargs):
    """Return what the student's function ``name`` returns for these
    arguments, as the judge reads it (:func:`decode`).

    Raises:
        The exception the function raised (as its nearest built-in kind,
        with its message), or AnswerError: the answer cannot be judged.
    """
    question = {"call": name, "args": encode(list(args), INLINE_ELEMENTS), "kwargs": encode(kwargs, INLINE_ELEMENTS)}
    return _ask(question, lambda: _lookup(name)(*args, **kwargs))


def answer_and_arguments(name, *args, **kwargs):
    """Return what :func:`answer` returns, and the arguments as they were
    after the call, ``(args, kwargs)``: a test can tell whether the function
    changed its inputs.

    Raises:
        As :func:`answer`.
    """
    question = {"call": name, "args": encode(list(args), INLINE_ELEMENTS), "kwargs": encode(kwargs, INLINE_ELEMENTS),
                "arguments": True}
    return _ask(question, lambda: _lookup(name)(*args, **kwargs), arguments=[list(args), kwargs])


def value(name):
    """Return the student's variable ``name``, as the judge reads it.

    Raises:
        NameError: there is no such variable.
    """
    return _ask({"value": name}, lambda: _lookup(name))


def _lookup(name):
    namespace = _user_namespace()
    if name not in namespace:
        raise NameError(f"name {name!r} is not defined: run the cell that defines it.")
    return namespace[name]


# --- the grader's own work --------------------------------------------------------------------------------------


_remembered = {}    # (function name, arguments as canonical JSON) -> result, for this process's life


def _canonical(data):
    """``data`` (from :func:`encode`) with every dict's pairs in one order."""
    if type(data) is list:
        return [_canonical(item) for item in data]
    if type(data) is dict:
        if set(data) == {"__dict__"}:
            return {"__dict__": sorted((_canonical(pair) for pair in data["__dict__"]), key=json.dumps)}
        return {key: _canonical(item) for key, item in data.items()}
    return data


def remembered(function, *args, **kwargs):
    """Return ``function(*args, **kwargs)``, computed once per process for
    the same function name and arguments (compared as data): for the
    grader's own work that no submission changes, such as training the
    grader's reference network. The judge serves a whole class, so a
    reference is trained once per class, not once per student.

    Raises:
        What ``function`` raises (nothing is remembered then), or
        AnswerError: an argument is not data (an object, an array too large),
            so two calls could not be told apart.
    """
    arguments = json.dumps(_canonical(encode([list(args), kwargs], fingerprint_above=0)))
    if '"__object__"' in arguments or '"__unbuildable__"' in arguments:
        raise AnswerError(f"remembered({function.__qualname__}, ...): an argument is not data, so its result "
                          "cannot be remembered. Pass numbers, strings, lists, dicts, arrays or Keras configs.")
    code = function.__code__
    identity = hashlib.sha256(repr((code.co_code, code.co_consts, code.co_names, function.__defaults__)).encode())
    key = (function.__module__, function.__qualname__, identity.hexdigest(), arguments)
    if key not in _remembered:
        _remembered[key] = function(*args, **kwargs)
    return _remembered[key]


# --- recording fit -----------------------------------------------------------------------------------------------


# The arguments of fit a recorded call keeps.
FIT_ARGUMENTS = ("x", "y", "validation_data", "validation_split", "epochs", "batch_size")


def _metric_names(model):
    return [m for m in (model.get_compile_config() or {}).get("metrics") or [] if isinstance(m, str)]


def _epochs(value):
    """Return the epochs of a recorded fit's made-up history: ``value`` if a plain int in reason, else 0."""
    return value if type(value) is int and 0 <= value <= 10_000 else 0


def _validated(validation_data, validation_split):
    return validation_data is not None or bool(validation_split)


def made_up_history(fit_number, epochs, metrics, validated):
    """Return the history a recorded fit returns: distinct numbers for each
    key, epoch and fit, so that a test can tell them apart."""
    keys = ["loss", *metrics]
    keys += [f"val_{key}" for key in keys] if validated else []
    return {key: [10.0 * (fit_number + 1) + epoch + i / 100 for epoch in range(epochs)]
            for i, key in enumerate(keys)}


class FitRecorder:
    """The grader's own models, whose ``fit`` records how it was called and
    trains nothing; a test judges the calls (:attr:`fits`).

    ``build`` returns a new compiled model of the grader's. With
    ``replaces``, the student's function of that name is replaced by
    :meth:`model` while :meth:`answer` runs (so that the student's code
    trains the grader's models instead of its own).
    """

    def __init__(self, build, replaces=None):
        self.build, self.replaces = build, replaces
        self.fits = []        # Fit, decoded, in the order they were made
        self.recorded = []    # encoded, in a kernel that runs student code
        self.models = 0
        self._metric_names = None   # the metrics the grader's model is compiled with

    def model(self, *args, **kwargs):
        """Return a new model of the grader's (arguments are ignored), whose fit is recorded."""
        import keras

        model = self.build()
        number, self.models = self.models, self.models + 1
        self._metric_names = _metric_names(model)
        signature = inspect.signature(type(model).fit)

        def fit(*args, **kwargs):
            call = signature.bind(model, *args, **kwargs)
            call.apply_defaults()
            given = call.arguments
            kept = {key: encode(given[key], INLINE_ELEMENTS) for key in FIT_ARGUMENTS}
            self.recorded.append({"model": number, **kept})
            epochs = _epochs(given["epochs"])
            history = keras.callbacks.History()
            history.history = made_up_history(len(self.recorded) - 1, epochs, self._metric_names,
                                              _validated(given["validation_data"], given["validation_split"]))
            history.epoch = list(range(epochs))
            history.set_model(model)
            model.history = history   # as Keras's own History does
            return history

        object.__setattr__(model, "fit", fit)
        object.__setattr__(model, "_dlcourse_recorded", number)
        return model

    def take(self, records):
        """Add the decoded fits of ``records`` (what one answer's call recorded) to :attr:`fits`."""
        if self._metric_names is None:   # the judge makes no model: it reads the names from one
            self._metric_names = _metric_names(self.build())
        for record in records:
            if type(record) is not dict:
                raise AnswerError("A recorded fit is not data the judge reads.")
            fields = {key: decode(record.get(key)) for key in FIT_ARGUMENTS}
            history = made_up_history(len(self.fits), _epochs(fields["epochs"]), self._metric_names,
                                      _validated(fields["validation_data"], fields["validation_split"]))
            self.fits.append(Fit(model=decode(record.get("model")), history=history, **fields))

    def answer(self, name, *args, **kwargs):
        """:func:`answer`, with this recorder's fits recorded (and the
        student's ``replaces`` replaced by :meth:`model` during the call)."""
        question = {"call": name, "args": encode(list(args), INLINE_ELEMENTS),
                    "kwargs": encode(kwargs, INLINE_ELEMENTS), "replaces": self.replaces}

        def run():
            function = _lookup(name)
            if not self.replaces:
                return function(*args, **kwargs)
            namespace = _user_namespace()
            before = namespace.get(self.replaces)
            namespace[self.replaces] = self.model
            try:
                return function(*args, **kwargs)
            finally:
                namespace[self.replaces] = before

        return _ask(question, run, recorder=self)
