"""Training curves, drawn the way the slides draw them."""

import matplotlib.pyplot as plt

LABELS = {"loss": "Loss", "accuracy": "Accuracy", "mae": "Mean absolute error"}


def _as_dict(history):
    return history.history if hasattr(history, "history") else history


def plot_curves(history, metric="loss", title=None, ax=None):
    """Plot the training (dots) and validation (line) values of ``metric``
    per epoch, from a Keras ``History`` or its ``.history`` dict; return the axes.

    Raises:
        KeyError: the history has no ``metric`` (the message lists its keys).
    """
    values = _as_dict(history)
    if metric not in values:
        raise KeyError(f"history has no {metric!r}; it has {sorted(values)}")
    ax = ax or plt.figure().gca()
    epochs = range(1, len(values[metric]) + 1)
    name = LABELS.get(metric, metric)
    ax.plot(epochs, values[metric], "bo", label=f"Training {name.lower()}")
    if f"val_{metric}" in values:
        ax.plot(epochs, values[f"val_{metric}"], "b", label=f"Validation {name.lower()}")
    ax.set(title=title or f"Training and validation {name.lower()}", xlabel="Epoch", ylabel=name)
    ax.legend()
    return ax


def compare_curves(histories, metric="val_loss", title=None, ax=None):
    """Plot ``metric`` per epoch for several models, one line each;
    ``histories`` maps a label to a ``History`` or dict. Return the axes."""
    ax = ax or plt.figure().gca()
    for label, history in histories.items():
        values = _as_dict(history)[metric]
        ax.plot(range(1, len(values) + 1), values, "o-", markersize=3, label=label)
    base = metric.removeprefix("val_")
    name = LABELS.get(base, base)
    prefix = "Validation " if metric.startswith("val_") else "Training "
    ax.set(title=title or f"{prefix}{name.lower()}", xlabel="Epoch", ylabel=f"{prefix}{name.lower()}")
    ax.legend()
    return ax
