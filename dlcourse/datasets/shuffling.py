"""The seeded shuffle that Keras's dataset loaders share."""

import numpy as np


def shuffled(rng, x, y):
    """Return ``x`` and ``y`` reordered by one permutation drawn from ``rng``
    (a ``np.random.RandomState``), as ``keras.datasets`` shuffles them."""
    indices = np.arange(len(x))
    rng.shuffle(indices)
    return x[indices], y[indices]
