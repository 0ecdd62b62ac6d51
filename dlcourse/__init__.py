"""Helpers for the course "Feedforward neural networks with Keras".

This package is the kernel side: what lectures, assignments and their tests
import inside a Jupyter kernel. It ships in the student edition.

- :mod:`dlcourse.datasets` -- Keras's datasets, also offline.
- :mod:`dlcourse.preprocessing` -- multi-hot vectors and decoding of word sequences.
- :mod:`dlcourse.plotting` -- training and validation curves.
- :mod:`dlcourse.results` -- record a notebook's key metrics.
- :mod:`dlcourse.grading` -- helpers for autograder test cells.
- :mod:`dlcourse.jupyter` -- the course's kernel and JupyterLab settings.
- :mod:`dlcourse.memory_notice` -- on the hub, why the last kernel stopped.

The host side, for instructors and CI (runner, bands, grading pipeline,
command line), is the subpackage :mod:`dlcourse.host`.
"""

__version__ = "0.1.0"
