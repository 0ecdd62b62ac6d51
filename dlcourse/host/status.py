"""Host side: what became of one submission's grading, named once for the
grading, the command line, the summary file and the formgrader's button."""

import enum


class Status(enum.StrEnum):
    """One submission's outcome (its value is what the summary file holds)."""
    GRADED = "graded"            # scored; nothing for the instructor to look at
    REVIEW = "review"            # scored 0 and held for the instructor, with the reasons
    NOT_GRADED = "not graded"    # a limit, a fault or a broken notebook stopped it; the reasons say which
    SKIPPED = "skipped"          # graded before (--force grades it again)

    @property
    def finished(self):
        """True when the grading ran to its end (the formgrader's button reports success)."""
        return self is not Status.NOT_GRADED

    @property
    def settled(self):
        """True when nobody need look at it (``python -m dlcourse autograde`` exits 0 only then)."""
        return self in (Status.GRADED, Status.SKIPPED)
