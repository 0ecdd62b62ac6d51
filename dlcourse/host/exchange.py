"""nbgrader's exchange on a multi-user hub, closed between students (host side).

nbgrader's default exchange leaves every submission readable by every user
(files 0644, the submission's folder 0777) and hidden only by a random name,
wants the exchange's root writable by every student, and releases feedback
readable by everyone who guesses its name (nbgrader #978, #1225). These
subclasses change only permissions; the files nbgrader writes are the same.
``dlcourse.host.hub`` lays out the folders they expect:

    exchange/                      root:root        0755  students only pass through
    exchange/<course>/             root:staff  2775
      outbound/                    root:staff  2775  released assignments, readable by all
      inbound/                     root:staff  3773  students may add, never list; staff read
                                   (default ACL group:staff:r-x)
      feedback/                    root:staff  2771  students may open their own file, never list

- :class:`Submit`: the submission's folder and files are the student's and
  readable by the staff group only: inbound's default ACL entry gives every
  file made in it to the staff group to read (its set-group-ID bit cannot:
  nbgrader's copy resets the folder's mode, which drops the bit before it
  writes timestamp.txt), and inbound's sticky bit stops others from renaming
  or removing it.
- :class:`ReleaseFeedback`: each feedback file is readable by the staff
  group and, through an access-control entry, by its student alone.
- :class:`Collect`: a submission the staff cannot read (its student made
  it 0700, or it is not a folder nbgrader can copy) is skipped with its
  reason, written beside the collected ones as
  ``submitted/<student>/<assignment>.not-collected.txt``; everyone else is
  collected.
- The student-side classes check that the exchange's root can be entered,
  not written (``ensure_root``).
"""

import os
import shutil
import subprocess
from glob import glob
from pathlib import Path

from nbgrader.exchange.default import (ExchangeCollect, ExchangeFetchAssignment, ExchangeFetchFeedback, ExchangeList,
                                       ExchangeReleaseFeedback, ExchangeSubmit)
from nbgrader.utils import check_directory, notebook_hash

SUBMISSION_DIR_MODE = 0o750
SUBMISSION_FILE_MODE = 0o640
FEEDBACK_FILE_MODE = 0o640

NOT_COLLECTED = "{assignment}.not-collected.txt"   # beside submitted/<student>/<assignment>

# What ``c.ExchangeFactory`` is set to on the hub: nbgrader's name -> class.
FACTORY = {"submit": "dlcourse.host.exchange.Submit",
           "collect": "dlcourse.host.exchange.Collect",
           "fetch_assignment": "dlcourse.host.exchange.FetchAssignment",
           "fetch_feedback": "dlcourse.host.exchange.FetchFeedback",
           "list": "dlcourse.host.exchange.List",
           "release_feedback": "dlcourse.host.exchange.ReleaseFeedback"}


class EnterOnlyRoot:
    """A student needs to pass through the exchange's root, not to write it."""

    def ensure_root(self):
        if not check_directory(self.root, execute=True):
            self.fail(f"Cannot enter the exchange {self.root}: ask your instructor to run `make hub` again.")


class Submit(EnterOnlyRoot, ExchangeSubmit):
    def copy_files(self):
        super().copy_files()
        close_to_staff(Path(self.inbound_path) / self.assignment_filename)


class FetchAssignment(EnterOnlyRoot, ExchangeFetchAssignment):
    pass


class FetchFeedback(EnterOnlyRoot, ExchangeFetchFeedback):
    pass


class List(EnterOnlyRoot, ExchangeList):
    pass


class Collect(ExchangeCollect):
    """nbgrader's collect, one submission at a time: one that cannot be read
    is skipped with its reason (see :func:`not_collected`), never the class."""

    def copy_files(self):
        records = self.src_records
        try:
            for record in records:
                self.src_records = [record]
                dest = Path(self.coursedir.format_path(self.coursedir.submitted_directory, record["username"],
                                                       self.coursedir.assignment_id))
                note = dest.with_name(NOT_COLLECTED.format(assignment=dest.name))
                try:
                    super().copy_files()
                except OSError as exc:
                    shutil.rmtree(dest, ignore_errors=True)   # never half a submission
                    note.parent.mkdir(parents=True, exist_ok=True)
                    note.write_text(not_collected(record, exc) + "\n")
                    self.log.error(not_collected(record, exc))
                else:
                    note.unlink(missing_ok=True)
        finally:
            self.src_records = records


def not_collected(record, error):
    """Return the reason a submission (one of ExchangeCollect's records) was
    not collected, with the fix."""
    return (f"{record['username']}'s submission {record['filename']} was not collected: "
            f"{type(error).__name__}: {error}. The rest of the class was. Fix: ask the student to "
            "submit again from JupyterLab (the exchange must be readable by the staff), then collect again.")


class ReleaseFeedback(ExchangeReleaseFeedback):
    def copy_files(self):
        super().copy_files()
        for name, student in feedback_owners(self.src_path).items():
            if (Path(self.dest_path) / name).exists():
                give_to_student(Path(self.dest_path) / name, student)


def close_to_staff(submission):
    """Make a submission's folders 0750 and files 0640 (the student and the
    staff group only); return None."""
    for folder, _, names in os.walk(submission):
        os.chmod(folder, SUBMISSION_DIR_MODE)
        for name in names:
            os.chmod(os.path.join(folder, name), SUBMISSION_FILE_MODE)


def feedback_owners(src_path):
    """Return {released file name: student} for the feedback nbgrader is
    releasing (``src_path`` is a glob over ``feedback/<student>/<assignment>``)."""
    owners = {}
    for folder in glob(src_path):
        student = Path(folder).parent.name
        secret = (Path(folder) / "submission_secret.txt").read_text()
        for html in Path(folder).glob("*.html"):
            owners[f"{notebook_hash(secret=secret, notebook_id=html.stem)}.html"] = student
    return owners


def let_staff_read(inbound, staff_group):
    """Give ``inbound`` a default ACL entry: whatever a student writes in it
    is readable by ``staff_group``; return None.

    Raises:
        RuntimeError: setfacl failed (its words, and the fix).
    """
    setfacl(inbound, "-d", "-m", f"g:{staff_group}:rX")


def setfacl(path, *args):
    done = subprocess.run(["setfacl", *args, str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"setfacl {' '.join(args)} {path} failed: {done.stderr.strip()}. "
                           "Fix: install Debian's acl package (make hub does) on a file system with ACLs.")


def give_to_student(path, student):
    """Make a released feedback file readable by the staff group and by
    ``student`` alone (a POSIX ACL entry, set with ``setfacl``); return None.

    Raises:
        RuntimeError: setfacl failed (its words, and the fix).
    """
    os.chmod(path, FEEDBACK_FILE_MODE)
    setfacl(path, "-m", f"u:{student}:r")
