"""Helpers for autograder test cells.

A model is judged through its config: the layer types in order, units,
activations, dropout rates, the weight regularizer's L1 and L2 factors, the
loss. How the student wrote it (strings or objects, ``L2(0.001)`` or
``L1L2(l2=0.001)``) does not matter. A mismatch raises an AssertionError that
says what was expected and what the model has.
"""

import math
import os

import keras


def grading():
    """Return True while nbgrader executes the notebook (autograde or validate)."""
    return os.environ.get("NBGRADER_EXECUTION") in {"autograde", "validate"}


def regularizer_factors(config):
    """Return ``{"l1": a, "l2": b}`` for a serialized kernel regularizer
    (None means no regularizer: both factors 0)."""
    if config is None:
        return {"l1": 0.0, "l2": 0.0}
    inner = config.get("config", {})
    return {"l1": float(inner.get("l1", 0.0)), "l2": float(inner.get("l2", 0.0))}


def describe_layers(model):
    """Return one dict per layer: its type, and its units, activation,
    dropout rate and regularizer factors where the layer has them."""
    described = []
    for layer in model.layers:
        config = layer.get_config()
        entry = {"type": type(layer).__name__}
        for key in ("units", "activation", "rate"):
            if key in config:
                entry[key] = config[key]
        if "kernel_regularizer" in config:
            entry["regularizer"] = regularizer_factors(config["kernel_regularizer"])
        described.append(entry)
    return described


def _show(entry):
    details = ", ".join(f"{k}={v!r}" for k, v in entry.items() if k != "type")
    return f"{entry['type']}({details})"


def _same(expected, actual):
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        return math.isclose(expected, actual, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(_same(expected[k], actual[k]) for k in expected)
    return expected == actual


def check_layers(model, expected):
    """Assert that the model's layers match ``expected``, a list of dicts with
    the keys of :func:`describe_layers` to compare (others are ignored).

    Raises:
        AssertionError: naming the first layer that differs, or the layer counts.
    """
    actual = describe_layers(model)
    wanted = " -> ".join(_show(e) for e in expected)
    found = " -> ".join(_show({k: a.get(k) for k in e}) for e, a in zip(expected, actual))
    assert len(actual) == len(expected), (
        f"Expected {len(expected)} layers ({wanted}), but the model has {len(actual)}: "
        f"{' -> '.join(_show(a) for a in actual)}"
    )
    for position, (want, have) in enumerate(zip(expected, actual), start=1):
        for key, value in want.items():
            assert _same(value, have.get(key)), (
                f"Layer {position} should be {_show(want)}, but it is "
                f"{_show({k: have.get(k) for k in want})}.\nExpected: {wanted}\nYour model: {found}"
            )


def loss_name(model):
    """Return the canonical name of a compiled model's loss, e.g.
    'categorical_crossentropy' for the string or for a CategoricalCrossentropy()."""
    loss = model.loss
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    return getattr(loss, "name", None) or loss.__name__


def check_compiled(model, loss, optimizer):
    """Assert the model is compiled with this loss (canonical name) and this
    optimizer (class name).

    Raises:
        AssertionError: saying which differs.
    """
    assert model.compiled, "The model is not compiled: call model.compile(...) before returning it."
    assert loss_name(model) == loss, f"The loss should be {loss!r}, not {loss_name(model)!r}."
    name = type(model.optimizer).__name__
    assert name == optimizer, f"The optimizer should be {optimizer}, not {name}."


def check_metric(model, x, y, metric):
    """Assert that evaluating the model on (x, y) reports ``metric``, i.e. it
    was compiled with ``metrics=[metric]``.

    Raises:
        AssertionError: listing the metrics the model reports instead.
    """
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert metric in logs, f"Compile with metrics=[{metric!r}]; the model reports {sorted(logs)}."


def check_regularizer(regularizer, l1=0.0, l2=0.0, label="The regularizer"):
    """Assert that a regularizer object (or None, meaning none) has these L1
    and L2 factors (to float32 precision, as Keras stores them).

    Raises:
        AssertionError: saying which factors were expected and found.
    """
    config = None if regularizer is None else keras.regularizers.serialize(regularizer)
    found = regularizer_factors(config)
    assert _same({"l1": float(l1), "l2": float(l2)}, found), (
        f"{label} should have L1 factor {l1} and L2 factor {l2}; it has L1 {found['l1']:g} and L2 {found['l2']:g}."
    )
