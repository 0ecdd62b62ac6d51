"""Turning word-index sequences into what a dense network reads, and back.

Lecture 2 (IMDB) teaches both functions; this module holds the same code
for the notebooks after it (tests/test_preprocessing.py checks that the
two stay identical, docstrings aside).
"""

import numpy as np


def vectorize_sequences(sequences, dimension=10000, dtype="float32"):
    """Return a multi-hot matrix: row i has a 1 at every index in
    ``sequences[i]`` and 0 elsewhere; shape (len(sequences), dimension).

    ``dtype="uint8"`` stores the 0/1 entries in a quarter of the memory of
    float32; Keras converts each batch to float32 in the first layer.

    Raises:
        IndexError: a sequence holds an index >= ``dimension``.
    """
    results = np.zeros((len(sequences), dimension), dtype=dtype)
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1
    return results


def decode(sequence, word_index, index_from=3):
    """Return the text of a word-index sequence, with "?" for the reserved
    indices (padding, start, unknown) below ``index_from``."""
    reverse = {index + index_from: word for word, index in word_index.items()}
    return " ".join(reverse.get(i, "?") for i in sequence)
