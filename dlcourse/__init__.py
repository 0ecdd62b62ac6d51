"""Helpers for the course "Feedforward neural networks with Keras".

- :mod:`dlcourse.datasets` -- Keras's datasets, also offline.
- :mod:`dlcourse.preprocessing` -- multi-hot vectors and decoding of word sequences.
- :mod:`dlcourse.plotting` -- training and validation curves.
- :mod:`dlcourse.results` -- record a notebook's key metrics, read them back.
- :mod:`dlcourse.bands` -- the slides' reference results and accepted bands.
- :mod:`dlcourse.runner` -- execute notebooks with papermill and summarise.
- :mod:`dlcourse.grading` -- helpers for autograder test cells.
- :mod:`dlcourse.instructor` -- nbgrader's instructor steps, one student at a time.
"""

__version__ = "0.1.0"
