"""Reuters newswire topics, as ``keras.datasets.reuters``."""

import numpy as np

from .files import locate
from .sequences import limit_vocabulary, load_word_index, offset_words, remove_long_seq
from .shuffling import shuffled


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1,
              oov_char=2, index_from=3):
    """Return ``(x_train, y_train), (x_test, y_test)``, exactly as Keras does.

    x_* are object arrays of word-index lists (8,982 / 2,246 newswires by
    default); y_* are topic ids 0..45. The arguments mean what they mean in
    ``keras.datasets.reuters.load_data``.

    Raises:
        dlcourse.datasets.DatasetError: the file is missing or corrupt.
    """
    with np.load(locate("reuters.npz", path), allow_pickle=True) as f:
        xs, labels = f["x"], f["y"]

    xs, labels = shuffled(np.random.RandomState(seed), xs, labels)

    xs = offset_words(xs, start_char, index_from)
    if maxlen:
        xs, labels = remove_long_seq(maxlen, xs, labels)
    xs = limit_vocabulary(xs, num_words, skip_top, oov_char)

    idx = int(len(xs) * (1 - test_split))
    x_train, y_train = np.array(xs[:idx], dtype="object"), np.array(labels[:idx])
    x_test, y_test = np.array(xs[idx:], dtype="object"), np.array(labels[idx:])
    return (x_train, y_train), (x_test, y_test)


def get_word_index(path="reuters_word_index.json"):
    """Return the dict mapping each word to its index (before ``index_from``).

    Raises:
        dlcourse.datasets.DatasetError: the file is missing or corrupt.
    """
    return load_word_index("reuters_word_index.json", path)


def get_label_names():
    """Return the 46 topic names, indexed by label id (from Keras)."""
    import keras

    return keras.datasets.reuters.get_label_names()
