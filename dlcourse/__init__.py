"""Helpers for the course "Feedforward neural networks with Keras".

Run inside a kernel (lectures, assignments, grading):

- :mod:`dlcourse.datasets` -- Keras's datasets, also offline.
- :mod:`dlcourse.preprocessing` -- multi-hot vectors and decoding of word sequences.
- :mod:`dlcourse.plotting` -- training and validation curves.
- :mod:`dlcourse.results` -- record a notebook's key metrics, read them back.
- :mod:`dlcourse.grading` -- helpers for autograder test cells.

Run on the host, for instructors and CI:

- :mod:`dlcourse.bands` -- the slides' reference results and accepted bands.
- :mod:`dlcourse.runner` -- execute notebooks with papermill and summarise.
- :mod:`dlcourse.instructor` -- nbgrader's release, feedback and export steps.
- :mod:`dlcourse.grader` -- autograde a class in parallel on Dask.
- :mod:`dlcourse.submission` -- grade one submission in a throwaway course.
- :mod:`dlcourse.sandbox` -- the bubblewrap sandbox of a graded kernel.
- :mod:`dlcourse.merge` -- the trusted merge of scores into the gradebook.
- :mod:`dlcourse.cheats` -- find code that tampers with its grading.
- :mod:`dlcourse.feedback` -- feedback without the hidden tests.
"""

__version__ = "0.1.0"
