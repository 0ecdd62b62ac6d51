"""The host side of the course: what runs outside any kernel, for instructors
and CI. Nothing here is imported by a notebook, and the student edition
leaves this package out.

- :mod:`dlcourse.host.cli` -- ``python -m dlcourse``: one subcommand each.
- :mod:`dlcourse.host.course` -- the course directory and its settings, from nbgrader_config.py.
- :mod:`dlcourse.host.backends` -- the Keras backends the course runs on, and the chosen one.
- :mod:`dlcourse.host.errors` -- the base class of the errors a user must fix.
- :mod:`dlcourse.host.runner` -- execute notebooks with papermill and summarise.
- :mod:`dlcourse.host.recorded` -- read back the metrics a notebook recorded.
- :mod:`dlcourse.host.bands` -- the slides' reference results and accepted bands.
- :mod:`dlcourse.host.instructor` -- nbgrader's release, feedback and export steps.
- :mod:`dlcourse.host.grader` -- autograde a class in parallel on Dask.
- :mod:`dlcourse.host.submission` -- grade one submission in a throwaway course.
- :mod:`dlcourse.host.nbgrader_process` -- nbgrader as a subprocess: configuration, environment, failures explained.
- :mod:`dlcourse.host.prelaunch` -- the next submission's nbgrader and sandboxed kernel, started ahead.
- :mod:`dlcourse.host.launcher` -- fork each of those nbgrader processes from one that imported nbgrader once.
- :mod:`dlcourse.host.processes` -- supervise a process tree: limits, peak memory, kill.
- :mod:`dlcourse.host.sandbox` -- the bubblewrap sandbox of a graded kernel.
- :mod:`dlcourse.host.watch` -- inside that sandbox: report the kernel's attempts on other files.
- :mod:`dlcourse.host.merge` -- the trusted merge of scores into the gradebook.
- :mod:`dlcourse.host.cheats` -- find code that tampers with its grading.
- :mod:`dlcourse.host.inert` -- student-made HTML made inert in the graded copy.
- :mod:`dlcourse.host.script_policy` -- the Content-Security-Policy of pages that show student work.
- :mod:`dlcourse.host.feedback` -- feedback without the hidden tests.
- :mod:`dlcourse.host.edition` -- write the student edition.
- :mod:`dlcourse.host.hub` -- a hub's accounts, folders and permissions, from the roster.
- :mod:`dlcourse.host.limits` -- each person's memory limit and CPU share on the hub.
- :mod:`dlcourse.host.exchange` -- nbgrader's exchange, closed between students.
- :mod:`dlcourse.host.receipts` -- the exchange's receipts: who submitted, when, what.
- :mod:`dlcourse.host.formgrader` -- the formgrader: sandboxed Autograde, pages under the script policy.
- :mod:`dlcourse.host.grades` -- grades out to Canvas and Moodle, with the late rule.
"""

# The host side's entries in the package ``dlcourse/``, declared once: the
# student edition leaves them out, and the executed-notebook cache ignores them.
HOST_ONLY = ("host", "__main__.py")
