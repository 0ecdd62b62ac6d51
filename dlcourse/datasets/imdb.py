"""IMDB movie-review sentiment, as ``keras.datasets.imdb``."""

import numpy as np

from .files import locate
from .sequences import limit_vocabulary, load_word_index, offset_words, remove_long_seq
from .shuffling import shuffled


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, **kwargs):
    """Return ``(x_train, y_train), (x_test, y_test)``, exactly as Keras does.

    x_* are object arrays of word-index lists (25,000 reviews each); y_* are
    0/1 labels. The arguments mean what they mean in
    ``keras.datasets.imdb.load_data``.

    Raises:
        ValueError: no review is shorter than ``maxlen``, or an unknown
            keyword argument was given.
        dlcourse.datasets.DatasetError: the file is missing or corrupt.
    """
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {sorted(kwargs)}.")
    with np.load(locate("imdb.npz", path), allow_pickle=True) as f:
        x_train, labels_train = f["x_train"], f["y_train"]
        x_test, labels_test = f["x_test"], f["y_test"]

    rng = np.random.RandomState(seed)  # one generator: the test set's order follows the training set's
    x_train, labels_train = shuffled(rng, x_train, labels_train)
    x_test, labels_test = shuffled(rng, x_test, labels_test)

    x_train = offset_words(x_train, start_char, index_from)
    x_test = offset_words(x_test, start_char, index_from)

    if maxlen:
        x_train, labels_train = remove_long_seq(maxlen, x_train, labels_train)
        x_test, labels_test = remove_long_seq(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(
                "After filtering for sequences shorter than maxlen="
                f"{maxlen}, no sequence was kept. Increase maxlen."
            )

    xs = limit_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])

    idx = len(x_train)
    x_train, y_train = np.array(xs[:idx], dtype="object"), labels[:idx]
    x_test, y_test = np.array(xs[idx:], dtype="object"), labels[idx:]
    return (x_train, y_train), (x_test, y_test)


def get_word_index(path="imdb_word_index.json"):
    """Return the dict mapping each word to its index (before ``index_from``).

    Raises:
        dlcourse.datasets.DatasetError: the file is missing or corrupt.
    """
    return load_word_index("imdb_word_index.json", path)
