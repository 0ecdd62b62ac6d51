"""MNIST handwritten digits, as ``keras.datasets.mnist``."""

import numpy as np

from .files import locate


def load_data(path="mnist.npz"):
    """Return ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays.

    x_train is (60000, 28, 28), x_test (10000, 28, 28); labels are 0..9.

    Raises:
        dlcourse.datasets.DatasetError: the file is missing or corrupt.
    """
    with np.load(locate("mnist.npz", path), allow_pickle=True) as f:
        x_train, y_train = f["x_train"], f["y_train"]
        x_test, y_test = f["x_test"], f["y_test"]
    return (x_train, y_train), (x_test, y_test)
