"""Keras's datasets, loaded from the course's offline copies when available.

``dlcourse.datasets.mnist.load_data()`` and friends take the same arguments
and return the same arrays as ``keras.datasets.mnist.load_data()``; only the
way the file is found differs (see :mod:`dlcourse.datasets.files`).
"""

from . import boston_housing, imdb, mnist, reuters
from .files import DatasetError

__all__ = ["boston_housing", "imdb", "mnist", "reuters", "DatasetError"]
