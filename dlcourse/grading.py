"""Helpers for autograder test cells.

A test cell asks for the student's answers with :func:`answer` and
:func:`value` (and :class:`FitRecorder` for code that trains), which return
them as data rebuilt by the process that judges (:mod:`dlcourse.evidence`):
when a notebook is graded, the assertions run in a judge that never ran the
student's code.

A model is judged through its config: the layer types in order, units,
activations, dropout rates, the weight regularizer's L1 and L2 factors, the
loss. How the student wrote it (strings or objects, ``L2(0.001)`` or
``L1L2(l2=0.001)``) does not matter. A mismatch raises an AssertionError that
says what was expected and what the model has.
"""

import logging
import math
import os

import keras

from .evidence import (AnswerError, FitRecorder, Fingerprint, answer, answer_and_arguments, judging,  # noqa: F401
                       remembered, same_data, value)


def run_by_nbgrader():
    """Return True while nbgrader executes the notebook (autograde or validate)."""
    return os.environ.get("NBGRADER_EXECUTION") in {"autograde", "validate"}


# Its name until issue 17: notebooks released before then call grading.grading(). Kept for the term
# those copies are in use; remove it at the start of the next.
grading = run_by_nbgrader


def prepare_kernel():
    """Start TensorFlow and hide its retracing notices; return None.

    Call it in an assignment's setup cell. Test cells build many small models,
    for which TensorFlow logs "retracing" warnings on stderr, and nbgrader
    counts stderr in a test cell as a failure. Starting TensorFlow here keeps
    its start-up messages, which a kernel other than the course's prints, in
    the setup cell too.
    """
    keras.ops.zeros(1)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def regularizer_factors(config):
    """Return ``{"l1": a, "l2": b}`` for a serialized kernel regularizer
    (None means no regularizer: both factors 0)."""
    if config is None:
        return {"l1": 0.0, "l2": 0.0}
    inner = config.get("config", {})
    return {"l1": float(inner.get("l1", 0.0)), "l2": float(inner.get("l2", 0.0))}


# The layer classes the assignments use, matched exactly: a subclass could
# report one configuration and compute another.
LAYER_TYPES = {keras.layers.Dense: "Dense", keras.layers.Dropout: "Dropout"}
# Layers that only apply an activation, and that activation's name.
ACTIVATION_LAYERS = {keras.layers.Activation: None, keras.layers.ReLU: "relu", keras.layers.Softmax: "softmax"}
SHOWN_KEYS = {"Dense": ("units", "activation"), "Dropout": ("rate",)}


def _activation_name(layer):
    if type(layer) is keras.layers.Activation:
        return layer.get_config()["activation"]
    return ACTIVATION_LAYERS[type(layer)]


def describe_layers(model):
    """Return one dict per computing layer: its type, and its units,
    activation, dropout rate and regularizer factors where it has them.

    The description is of what the model computes: an input layer is left
    out, and an ``Activation`` (or ``ReLU``, ``Softmax``) layer right after a
    linear ``Dense`` layer counts as that layer's activation.

    Raises:
        AssertionError: ``model`` is not a Keras model.
    """
    assert isinstance(model, keras.Model), f"Expected a Keras model, but got a {type(model).__name__}."
    described = []
    for layer in model.layers:
        if type(layer) is keras.layers.InputLayer:
            continue
        if type(layer) in ACTIVATION_LAYERS and described and "activation" in described[-1]:
            before, after = described[-1]["activation"], _activation_name(layer)
            if before == "linear" or before == after == "relu":  # relu(relu(x)) is relu(x)
                described[-1]["activation"] = after
                continue
        config = layer.get_config()
        entry = {"type": LAYER_TYPES.get(type(layer), type(layer).__name__)}
        for key in ("units", "activation", "rate"):
            if key in config:
                entry[key] = config[key]
        if "kernel_regularizer" in config:
            entry["regularizer"] = regularizer_factors(config["kernel_regularizer"])
        described.append(entry)
    return described


def _show(entry, keys=None):
    keys = [k for k in (keys or entry) if k != "type" and k in entry]
    details = ", ".join(f"{k}={entry[k]!r}" for k in keys)
    return f"{entry['type']}({details})"


def _same(expected, actual):
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        return math.isclose(expected, actual, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(_same(expected[k], actual[k]) for k in expected)
    if expected is None:
        return actual is None
    # Same type as well as equal: an object that claims to equal anything is not a match.
    return type(expected) is type(actual) and expected == actual


def check_layers(model, expected, only=None):
    """Assert that the model's layers match ``expected``, a list of dicts with
    the keys of :func:`describe_layers` to compare (others are ignored).
    With ``only`` (layer type names), other layers are left out first, so
    that a test of the Dense layers is not failed by a mistake in Dropout.

    Raises:
        AssertionError: naming the first layer that differs, with the expected
            and the actual layers side by side, each shown with the keys
            compared for its own type.
    """
    actual = [a for a in describe_layers(model) if only is None or a["type"] in only]
    compared = {}
    for entry in expected:
        compared.setdefault(entry["type"], {}).update(dict.fromkeys(k for k in entry if k != "type"))

    def shown(entry):
        return _show(entry, compared.get(entry["type"]) or SHOWN_KEYS.get(entry["type"], ()))

    table = (f"\nExpected:   {' -> '.join(_show(e) for e in expected)}"
             f"\nYour model: {' -> '.join(shown(a) for a in actual)}")
    assert len(actual) == len(expected), (
        f"Expected {len(expected)} layers, but the model has {len(actual)}.{table}")
    for position, (want, have) in enumerate(zip(expected, actual), start=1):
        differs = [k for k in want if not _same(want[k], have.get(k))]
        assert not differs, f"Layer {position} should be {_show(want)}, but it is {shown(have)}.{table}"


def loss_name(model):
    """Return the canonical name of a compiled model's loss, e.g.
    'categorical_crossentropy' for the string or for a CategoricalCrossentropy()."""
    loss = model.loss
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    return getattr(loss, "name", None) or loss.__name__


def _check_is_compiled(model):
    assert model.compiled, "The model is not compiled: call model.compile(...) before returning it."


def check_compiled(model, loss, optimizer):
    """Assert the model is compiled with this loss (canonical name) and this
    optimizer (class name).

    Raises:
        AssertionError: saying which differs.
    """
    _check_is_compiled(model)
    assert loss_name(model) == loss, f"The loss should be {loss!r}, not {loss_name(model)!r}."
    name = type(model.optimizer).__name__
    assert name == optimizer, f"The optimizer should be {optimizer}, not {name}."


def _keras_classes(module):
    return frozenset(value for value in vars(module).values() if isinstance(value, type))


def _made_by_keras(module):
    """Return the classes in ``module`` and the classes of the objects they
    make: on PyTorch, ``keras.optimizers.RMSprop()`` is an instance of the
    backend's own subclass. Computed when this module is imported, before
    any student code runs."""
    classes = _keras_classes(module)
    made = set()
    for cls in classes:
        try:
            made.add(type(cls()))
        except Exception:  # a base class, or one that needs arguments: it makes nothing by itself
            continue
    return classes | made


KERAS_LAYERS = _keras_classes(keras.layers)
KERAS_OPTIMIZERS = _made_by_keras(keras.optimizers)


def _only_keras_objects(config, what):
    """Assert that a serialized compile setting names only Keras's own objects
    (no class or function of the student's, registered or not)."""
    from .evidence import _check_keras_only

    _check_keras_only(config, what)
    for name in (config if isinstance(config, list) else [config]):
        assert not (isinstance(name, str) and name in keras.saving.get_custom_objects()), (
            f"Compile with Keras's own {what}, not {name!r}.")


def plain_copy(model):
    """Return a copy of the compiled ``model`` as a plain ``keras.Sequential``
    (or functional ``keras.Model``): the same layers, weights and compile
    settings, and none of the model's own class. Training and evaluating the
    copy runs only Keras's code, so a class that redefines ``fit``,
    ``train_step`` or ``evaluate`` cannot change what a test reads.

    Raises:
        AssertionError: not a compiled Keras model; a layer, optimizer, loss
            or metric that is not Keras's own; or a model that cannot be
            rebuilt from its config (a model class with its own ``call``).
    """
    assert isinstance(model, keras.Model), f"Expected a Keras model, but got a {type(model).__name__}."
    _check_is_compiled(model)
    for layer in model.layers:
        assert type(layer) in KERAS_LAYERS, f"Use Keras's own layers: {type(layer).__name__} is a class of your own."
    settings = model.get_compile_config()
    for key, what in (("optimizer", "optimizer"), ("loss", "loss"), ("metrics", "metrics")):
        _only_keras_objects(settings.get(key), what)
    base = keras.Sequential if isinstance(model, keras.Sequential) else keras.Model
    try:
        copy = base.from_config(model.get_config())
        copy.compile_from_config(settings)
    except Exception as error:  # Keras raises many kinds for a config it cannot rebuild
        raise AssertionError(
            "Build the model with keras.Sequential or keras.Model(inputs, outputs); this one cannot be "
            f"rebuilt from its config ({type(error).__name__}: {error}).") from None
    assert type(copy.optimizer) in KERAS_OPTIMIZERS, "Compile with one of Keras's own optimizers."
    assert describe_layers(copy) == describe_layers(model), (
        "The model cannot be rebuilt from its config as a plain Keras model: build it with keras.Sequential or "
        "keras.Model(inputs, outputs), not a model class with its own call().")
    for original, rebuilt in zip(model.layers, copy.layers):
        rebuilt.set_weights(original.get_weights())
    return copy


def check_metric(model, x, y, metric):
    """Assert that evaluating the model on (x, y) reports ``metric``, i.e. it
    was compiled with ``metrics=[metric]``. The model is evaluated as its
    :func:`plain_copy`, eagerly: for a few samples, compiling the step
    would cost more than running it.

    Raises:
        AssertionError: listing the metrics the model reports instead.
    """
    copy = plain_copy(model)
    copy.run_eagerly = True
    logs = copy.evaluate(x, y, verbose=0, return_dict=True)
    assert metric in logs, f"Compile with metrics=[{metric!r}]; the model reports {sorted(logs)}."


def check_regularizer(regularizer, l1=0.0, l2=0.0, label="The regularizer"):
    """Assert that a regularizer object (or None, meaning none) has these L1
    and L2 factors (to float32 precision, as Keras stores them).

    Raises:
        AssertionError: saying which factors were expected and found.
    """
    kinds = (keras.regularizers.L1, keras.regularizers.L2, keras.regularizers.L1L2)
    assert regularizer is None or type(regularizer) in kinds, (
        f"{label} should be a keras.regularizers L1, L2 or L1L2 object (or None), not a {type(regularizer).__name__}.")
    config = None if regularizer is None else keras.regularizers.serialize(regularizer)
    found = regularizer_factors(config)
    assert _same({"l1": float(l1), "l2": float(l2)}, found), (
        f"{label} should have L1 factor {l1} and L2 factor {l2}; it has L1 {found['l1']:g} and L2 {found['l2']:g}."
    )
