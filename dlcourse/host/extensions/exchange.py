"""nbgrader's exchange on a multi-user hub, closed between students (host side).

nbgrader's default exchange leaves every submission readable by every user
(files 0644, the submission's folder 0777) and hidden only by a random name,
wants the exchange's root writable by every student, and releases feedback
readable by everyone who guesses its name (nbgrader #978, #1225). These
subclasses change only permissions; the files nbgrader writes are the same.
``dlcourse.host.term.hub`` lays out the folders they expect:

    exchange/                      root:root        0755  students only pass through
    exchange/<course>/             root:staff  2775
      outbound/                    root:staff  2775  released assignments, readable by all
      inbound/                     root:staff  3773  students may add, never list; staff read
                                   (default ACL group:staff:r-x, and the receipt
                                   service's account: user:dlcourse-exchange:r-x)
      receipts/                    dlcourse-exchange:staff 2750  the receipts of inbound's
                                   submissions (dlcourse.host.extensions.receipts); staff read
      feedback/                    root:staff  2771  students may open their own file, never list

- :class:`Submit`: the submission's folder and files are the student's and
  readable by the staff group only: inbound's default ACL entry gives every
  file made in it to the staff group to read (its set-group-ID bit cannot:
  nbgrader's copy resets the folder's mode, which drops the bit before it
  writes timestamp.txt), and inbound's sticky bit stops others from renaming
  or removing it.
- :class:`ReleaseFeedback`: each feedback file is readable by the staff
  group and, through an access-control entry, by its student alone.
- :class:`Collect`: whose a submission is and when it came are the
  exchange's word, not the student's (its owner and its receipt, see
  dlcourse.host.extensions.receipts). A submission the staff cannot read (its student
  made it 0700, or it is not a folder nbgrader can copy), or made by
  another user than the student it names, is skipped with its reason,
  written beside the collected ones as
  ``submitted/<student>/<assignment>.not-collected.txt``; everyone else is
  collected.
- The student-side classes check that the exchange's root can be entered,
  not written (``ensure_root``).
"""

import json
import os
import shutil
import subprocess
from datetime import timezone
from glob import glob
from pathlib import Path

from nbgrader.exchange.default import (ExchangeCollect, ExchangeFetchAssignment, ExchangeFetchFeedback, ExchangeList,
                                       ExchangeReleaseFeedback, ExchangeSubmit)
from nbgrader.utils import check_directory, notebook_hash

from . import receipts

SUBMISSION_DIR_MODE = 0o750
SUBMISSION_FILE_MODE = 0o640
FEEDBACK_FILE_MODE = 0o640

NOT_COLLECTED = "{assignment}.not-collected.txt"   # beside submitted/<student>/<assignment>

# What ``c.ExchangeFactory`` is set to on the hub: nbgrader's name -> class.
FACTORY = {"submit": "dlcourse.host.extensions.exchange.Submit",
           "collect": "dlcourse.host.extensions.exchange.Collect",
           "fetch_assignment": "dlcourse.host.extensions.exchange.FetchAssignment",
           "fetch_feedback": "dlcourse.host.extensions.exchange.FetchFeedback",
           "list": "dlcourse.host.extensions.exchange.List",
           "release_feedback": "dlcourse.host.extensions.exchange.ReleaseFeedback"}


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
    """nbgrader's collect, with who and when from the exchange's trusted side
    (:func:`dlcourse.host.extensions.receipts.verdict`), one submission at a time.

    - A submission's time is its receipt's, never the folder's name or its
      ``timestamp.txt`` (the collected ``timestamp.txt`` is rewritten with it).
    - A submission not made by the student it names is never collected as
      theirs: that student's own latest submission is, and the attempt is
      reported.
    - One that cannot be read or copied is skipped with its reason
      (:func:`not_collected`), never the class.
    - One with no receipt, or changed after it, is collected and held for
      review: ``submitted/<student>/<assignment>.held.json`` says why.
    """

    def _path_to_record(self, path):
        """Return nbgrader's record of a submission folder, with its time and
        :class:`~dlcourse.host.extensions.receipts.Verdict` from the receipts (the time
        in its name, which the student wrote, is never read)."""
        filename = os.path.basename(path)
        record = {"username": filename.rsplit("+", 3)[0], "filename": filename}
        found = receipts.verdict(path, record["username"], Path(self.course_path) / receipts.RECEIPTS)
        if found.impostor:
            self.log.error(not_collected(record, found.refused))
        return dict(record, timestamp=found.submitted, verdict=found)

    def _sort_by_timestamp(self, records):
        """The latest first, one made by somebody else after every other (the
        student's own latest is skipped with its reason if it cannot be read)."""
        return sorted(records, key=lambda r: (not r["verdict"].impostor, r["timestamp"]), reverse=True)

    def copy_files(self):
        records = self.src_records
        try:
            for record in records:
                self.src_records = [record]
                self._collect_one(record, record["verdict"])
        finally:
            self.src_records = records

    def _collect_one(self, record, found):
        dest = Path(self.coursedir.format_path(self.coursedir.submitted_directory, record["username"],
                                               self.coursedir.assignment_id))
        note, held = (dest.with_name(name.format(assignment=dest.name)) for name in (NOT_COLLECTED, receipts.HELD))
        reason, before = found.refused, _identity(dest)
        if not reason:
            try:
                super().copy_files()
            except (OSError, RuntimeError) as exc:   # RuntimeError: nbgrader's "Directory size is too big"
                shutil.rmtree(dest, ignore_errors=True)   # never half a submission
                reason = f"{type(exc).__name__}: {exc}"
        if reason:
            note.parent.mkdir(parents=True, exist_ok=True)
            note.write_text(not_collected(record, reason) + "\n")
            if not found.impostor:
                self.log.error(not_collected(record, reason))
            return
        note.unlink(missing_ok=True)
        if _identity(dest) == before:   # nbgrader kept what it collected before (no --update, or not newer)
            return
        submitted = found.submitted.replace(tzinfo=timezone.utc)
        (dest / "timestamp.txt").write_text(submitted.strftime(self.timestamp_format))
        if found.held:
            held.write_text(json.dumps({"folder": record["filename"], "reasons": found.held}, indent=1))
            self.log.error(f"{record['username']}'s submission {record['filename']} is held for review: "
                           + "; ".join(found.held))
        else:
            held.unlink(missing_ok=True)


def _identity(folder):
    """Return what tells a folder from the one it replaced (None if absent)."""
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_ctime_ns


def not_collected(record, reason):
    """Return the sentence saying a submission (one of ExchangeCollect's
    records) was not collected and why (``reason``), with the fix."""
    return (f"{record['username']}'s submission {record['filename']} was not collected: {reason}. "
            "The rest of the class was. Fix: ask the student to submit again from JupyterLab "
            "(as themselves, and readable by the staff), then collect again.")


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


def let_receipts_read(inbound, account):
    """Let the receipt service's ``account`` list ``inbound`` and read
    whatever a student writes in it (access and default ACL entries);
    return None.

    Raises:
        RuntimeError: setfacl failed (its words, and the fix).
    """
    setfacl(inbound, "-m", f"u:{account}:rx")
    setfacl(inbound, "-d", "-m", f"u:{account}:rX")


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
