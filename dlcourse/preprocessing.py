"""Turning word-index sequences into what a dense network reads.

Lecture 2 (IMDB) builds these step by step; later notebooks import them.
"""

import numpy as np


def vectorize_sequences(sequences, dimension=10000):
    """Return a float32 multi-hot matrix: row i has a 1 at every index in
    ``sequences[i]`` and 0 elsewhere; shape (len(sequences), dimension).

    Raises:
        IndexError: a sequence holds an index >= ``dimension``.
    """
    results = np.zeros((len(sequences), dimension), dtype="float32")
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.0
    return results


def decode(sequence, word_index, index_from=3):
    """Return the text of a word-index sequence, with "?" for the reserved
    indices (padding, start, unknown) below ``index_from``."""
    reverse = {index + index_from: word for word, index in word_index.items()}
    return " ".join(reverse.get(i, "?") for i in sequence)
