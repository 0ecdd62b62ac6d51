"""The word-sequence processing that keras.datasets.imdb and .reuters share."""

import json

from .files import locate


def remove_long_seq(maxlen, seq, label):
    """Return the sequences shorter than ``maxlen`` and their labels."""
    kept = [(x, y) for x, y in zip(seq, label) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def offset_words(xs, start_char, index_from):
    """Return the sequences with ``index_from`` added and ``start_char`` first."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in xs]
    if index_from:
        return [[w + index_from for w in x] for x in xs]
    return [list(x) for x in xs]


def limit_vocabulary(xs, num_words, skip_top, oov_char):
    """Return the sequences with words outside [skip_top, num_words) replaced
    by ``oov_char`` (or dropped when ``oov_char`` is None)."""
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def load_word_index(name, path):
    """Return the word -> index dict stored in the verified file ``name``."""
    with open(locate(name, path)) as f:
        return json.load(f)
