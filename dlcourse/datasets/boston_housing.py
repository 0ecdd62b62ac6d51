"""Boston housing prices, as ``keras.datasets.boston_housing``.

The data has an ethical problem: its "B" column encodes an assumption that
racial self-segregation affects house prices. The course keeps it only to
reproduce the classic lecture results, and says so where it is used.
"""

import numpy as np

from .files import locate
from .shuffling import shuffled


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """Return ``(x_train, y_train), (x_test, y_test)`` as float64 arrays.

    The 506 samples are shuffled with ``seed`` and the last ``test_split``
    fraction becomes the test set (404 / 102 by default).

    Raises:
        ValueError: ``test_split`` is not in [0, 1).
        dlcourse.datasets.DatasetError: the file is missing or corrupt.
    """
    if not 0 <= test_split < 1:
        raise ValueError(f"test_split must be in [0, 1); got {test_split!r}.")
    with np.load(locate("boston_housing.npz", path), allow_pickle=True) as f:
        x, y = f["x"], f["y"]

    x, y = shuffled(np.random.RandomState(seed), x, y)

    split = int(len(x) * (1 - test_split))
    x_train, y_train = np.array(x[:split]), np.array(y[:split])
    x_test, y_test = np.array(x[split:]), np.array(y[split:])
    return (x_train, y_train), (x_test, y_test)
