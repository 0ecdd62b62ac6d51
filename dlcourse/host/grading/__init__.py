"""Grading: a class of submissions, each graded in a sandbox of its own, and
the scores merged into the gradebook by trusted code.

The path of one class: :mod:`.whole_class` (the class, in parallel on Dask)
hands each student's :class:`~.submission.Job` to :mod:`.submission`, which
takes a :class:`~.submission.Slot` that :mod:`.launcher` started ahead: an
nbgrader process (:mod:`.prelaunch`) with its kernel in the sandbox
(:mod:`.sandbox`, its folders capped by :mod:`.capped`, watched by
:mod:`.watch` and :mod:`.decoys`). The kernel only produces evidence; the
judge (:mod:`.judge`) decides the tests; :mod:`.merge` scores them, with the
flags of :mod:`.cheats` and student HTML made inert by :mod:`.inert`.

It may import the host side's shared modules (:mod:`dlcourse.host`), the
kernel side, and :mod:`dlcourse.host.extensions` (the exchange's receipts);
never :mod:`dlcourse.host.term` or :mod:`dlcourse.host.lectures`.
"""
