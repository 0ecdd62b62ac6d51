"""The term: the roster and its accounts on the hub, the hub itself, the
per-person limits, nbgrader's steps other than grading, the student edition
and the grades out to the LMS.

- :mod:`.hub` -- a hub's accounts, folders and permissions, from the roster.
- :mod:`.limits` -- each person's memory limit and CPU share on the hub.
- :mod:`.instructor` -- nbgrader's release, feedback and export steps.
- :mod:`.lms` -- grades out to Canvas and Moodle, with the late rule (also a server extension: the downloads).
- :mod:`.edition` -- write the student edition (its own files are in ``student/``).

It may import the host side's shared modules (:mod:`dlcourse.host`), the
kernel side and :mod:`dlcourse.host.extensions` (the hub sets them up); never
:mod:`dlcourse.host.grading` or :mod:`dlcourse.host.lectures`.
"""
