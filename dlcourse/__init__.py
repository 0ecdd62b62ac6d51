"""Helpers for the course "Feedforward neural networks with Keras".

- :mod:`dlcourse.datasets` -- Keras's datasets, also offline.
- :mod:`dlcourse.results` -- record a notebook's key metrics, read them back.
- :mod:`dlcourse.bands` -- the slides' reference results and accepted bands.
- :mod:`dlcourse.runner` -- execute notebooks with papermill and summarise.
"""

__version__ = "0.1.0"
