"""The host side of the course: what runs outside any kernel, for instructors
and CI. Nothing here is imported by a notebook, and the student edition
leaves this package out.

Four rooms, each named for its job (their own docstrings say what each owns
and may import):

- :mod:`dlcourse.host.lectures` -- running the lectures and holding them to the slides' results.
- :mod:`dlcourse.host.grading` -- grading a class, each submission in a sandbox, and the trusted merge.
- :mod:`dlcourse.host.extensions` -- what nbgrader and Jupyter load: exchange, feedback, formgrader, overwrite.
- :mod:`dlcourse.host.term` -- the roster and the hub, release and feedback, the student edition, the LMS.

Shared by all of them, here:

- :mod:`dlcourse.host.cli` -- ``python -m dlcourse``: one subcommand each; it imports every room.
- :mod:`dlcourse.host.course` -- the course directory and its settings, from nbgrader_config.py.
- :mod:`dlcourse.host.backends` -- the Keras backends the course runs on, and the chosen one.
- :mod:`dlcourse.host.errors` -- the base class of the errors a user must fix.
- :mod:`dlcourse.host.processes` -- supervise a process tree: limits, peak memory, kill.
- :mod:`dlcourse.host.status` -- what became of one submission's grading (one Enum).
- :mod:`dlcourse.host.nbgrader_process` -- nbgrader as a subprocess: configuration, environment, failures explained.
"""

# The host side's entries in the package ``dlcourse/``, declared once: the
# student edition leaves them out, and the executed-notebook cache ignores them.
HOST_ONLY = ("host", "__main__.py")
