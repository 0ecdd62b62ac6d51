"""Receipts for the exchange's submissions, written by its trusted side (host side).

A student writes her submission's folder in the exchange herself, and with
it the two things nbgrader believes: the folder's name (whose submission it
is, and when it was made) and ``timestamp.txt``. She can write any name and
any time there. Two things she cannot set:

- the folder's owner: the kernel makes it her uid, and only root can change it;
- its files' change times (``st_ctime``): the kernel's clock sets them on
  every change to a file, its content or its mode; ``touch -d`` sets mtime only.

The receipt service (``python -m dlcourse receipts``, a JupyterHub service
run as its own system account, :data:`ACCOUNT`) looks at the exchange's
inbound folder every :data:`POLL_SECONDS`. For each new submission folder,
once it has been still for :data:`SETTLE_SECONDS`, it writes a receipt into
the receipts folder, which only it may write and only the staff may read:

    receipts/<submission folder>.json
        {"folder", "owner", "uid", "received", "sha256", "files", "bytes"}

``received`` is the last change time of the folder and its files when it
arrived, ``sha256`` a hash of its contents (paths, links and bytes).
:func:`verdict` is what collect asks of one submission folder: whose it is
(its owner), when it was submitted (its receipt), and why it must be held
for review (changed after its receipt, or no receipt).
"""

import hashlib
import json
import os
import pwd
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ACCOUNT = "dlcourse-exchange"   # the system account the receipt service runs as
RECEIPTS = "receipts"           # the folder beside inbound/ in the course's exchange
POLL_SECONDS = 1.0
SETTLE_SECONDS = 2.0            # a folder still changing (being copied) waits for its receipt
RECEIPT_WAIT_SECONDS = 10.0     # collect waits this long for the receipt of a folder that just arrived
MAX_FILES = 10_000              # a submission with more is received, unhashed, and held
MAX_BYTES = 1_000_000_000
HELD = "{assignment}.held.json"  # beside submitted/<student>/<assignment>: why collect held it


class TooLarge(Exception):
    """A submission folder with more files or bytes than a receipt hashes."""


@dataclass
class State:
    """What a submission folder is now: its owners, last change and contents."""
    uids: set
    changed: float           # the latest st_ctime of the folder and everything in it
    sha256: str
    files: int
    bytes: int


def tree_state(folder):
    """Return the :class:`State` of ``folder`` (never following a link).

    Raises:
        OSError: the folder or a file in it cannot be read.
        TooLarge: more than MAX_FILES entries or MAX_BYTES bytes.
    """
    folder = Path(folder)
    top = os.lstat(folder)
    if not stat.S_ISDIR(top.st_mode):
        raise NotADirectoryError(f"{folder.name} is not a folder")
    digest, uids, changed, files, size = hashlib.sha256(), {top.st_uid}, top.st_ctime, 0, 0
    for path in _walk(folder):
        info = os.lstat(path)
        uids.add(info.st_uid)
        changed = max(changed, info.st_ctime)
        files += 1
        if files > MAX_FILES:
            raise TooLarge(f"more than {MAX_FILES} files")
        name = str(path.relative_to(folder)).encode("utf-8", "surrogateescape")
        if stat.S_ISREG(info.st_mode):
            size += info.st_size
            if size > MAX_BYTES:
                raise TooLarge(f"more than {MAX_BYTES // 1_000_000} MB")
            digest.update(b"F" + name + b"\0" + _file_sha256(path).encode() + b"\0")
        elif stat.S_ISLNK(info.st_mode):
            digest.update(b"L" + name + b"\0" + os.readlink(path).encode("utf-8", "surrogateescape") + b"\0")
        else:
            digest.update((b"D" if stat.S_ISDIR(info.st_mode) else b"O") + name + b"\0")
    return State(uids, changed, digest.hexdigest(), files, size)


def _walk(folder):
    """Yield every path under ``folder``, sorted, never through a link."""
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        yield Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path)


def _file_sha256(path):
    """Return the hex SHA-256 of a regular file, opened without following a
    link or blocking on a pipe swapped in for it (raises OSError if so)."""
    handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(handle, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise OSError(f"{path} stopped being a regular file while it was read")
        digest = hashlib.sha256()
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def owner_name(uid):
    """Return the user name of ``uid`` ("uid N" if it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def iso(epoch):
    """Return ``epoch`` as an ISO 8601 time in UTC."""
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def receipt_for(folder, now):
    """Return the receipt of a submission folder (a dict), or None while it
    is still changing (its last change less than SETTLE_SECONDS before ``now``)."""
    folder = Path(folder)
    info = os.lstat(folder)
    receipt = {"folder": folder.name, "owner": owner_name(info.st_uid), "uid": info.st_uid}
    try:
        state = tree_state(folder)
    except (OSError, TooLarge) as exc:
        if now - info.st_ctime < SETTLE_SECONDS:
            return None
        return {**receipt, "received": iso(info.st_ctime), "unhashed": f"{type(exc).__name__}: {exc}"}
    if now - state.changed < SETTLE_SECONDS:
        return None
    return {**receipt, "received": iso(state.changed), "sha256": state.sha256, "files": state.files,
            "bytes": state.bytes}


def write_receipts(inbound, receipts, log=print, now=None):
    """Write a receipt for every settled submission folder in ``inbound``
    that has none in ``receipts``; return the receipts written.

    A folder that cannot be stat'ed (gone while looked at) is left for the
    next pass; a receipt is never rewritten.
    """
    now = time.time() if now is None else now
    written = []
    for entry in sorted(os.scandir(inbound), key=lambda e: e.name):
        path = Path(receipts) / f"{entry.name}.json"
        if path.exists():
            continue
        try:
            receipt = receipt_for(entry.path, now)
            if receipt is None:
                continue
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text(json.dumps(receipt, indent=1))
            os.chmod(temporary, 0o640)
            temporary.rename(path)
        except OSError as exc:
            log(f"no receipt yet for {entry.name}: {exc}")
            continue
        log(f"receipt: {receipt['owner']} {entry.name} at {receipt['received']}")
        written.append(receipt)
    return written


def serve(course_exchange, poll=POLL_SECONDS):
    """Write receipts for ``course_exchange``'s inbound folder forever (the
    hub's receipt service); never returns."""
    inbound, receipts = Path(course_exchange) / "inbound", Path(course_exchange) / RECEIPTS
    print(f"receipts for {inbound} into {receipts}, every {poll} s", flush=True)
    while True:
        write_receipts(inbound, receipts, log=lambda line: print(line, flush=True))
        time.sleep(poll)


@dataclass
class Verdict:
    """What collect does with one submission folder."""
    submitted: datetime                          # naive UTC, as nbgrader's times
    refused: str = ""                            # not collected at all, and why
    impostor: str = ""                           # who made it, when not the student it names
    held: list = field(default_factory=list)     # collected, held for review, and why


def verdict(folder, student, receipts):
    """Return the :class:`Verdict` on a submission folder named as
    ``student``'s, given the ``receipts`` folder.

    - refused: its owner (or the owner of anything in it) is not ``student``,
      or it cannot be read;
    - held: it has no receipt (its time is then its last change), it could
      not be hashed when it arrived, or it changed after its receipt (its
      time is then the time of that change, never earlier).
    """
    folder = Path(folder)
    try:
        state = tree_state(folder)
    except (OSError, TooLarge) as exc:
        try:
            changed = os.lstat(folder).st_ctime
        except OSError:
            changed = time.time()
        return Verdict(_utc(changed), refused=f"{type(exc).__name__}: {exc}")
    others = ", ".join(sorted(owner_name(uid) for uid in state.uids if owner_name(uid) != student))
    if others:
        return Verdict(_utc(state.changed), impostor=others,
                       refused=f"it is named as {student}'s but was made by {others}")
    path = Path(receipts) / f"{folder.name}.json"
    while not path.exists() and time.time() - state.changed < RECEIPT_WAIT_SECONDS:
        time.sleep(POLL_SECONDS / 2)   # it arrived a moment ago: its receipt is on its way
    try:
        receipt = json.loads(path.read_text())
    except (OSError, ValueError):
        return Verdict(_utc(state.changed), held=[f"the exchange has no receipt for it ({path.name}), so its time is "
                                                  f"its last change, {iso(state.changed)}"])
    received = datetime.fromisoformat(receipt["received"]).replace(tzinfo=None)
    if receipt.get("sha256") == state.sha256:
        return Verdict(received)
    why = (f"it could not be read when it arrived ({receipt.get('unhashed')}), so its time is its last change"
           if "sha256" not in receipt else
           f"it was changed in the exchange after its receipt at {receipt['received']} "
           f"(last change {iso(state.changed)}): collected as it is now, with the later time")
    return Verdict(max(received, _utc(state.changed)), held=[why])


def _utc(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def held_reasons(submitted_folder):
    """Return the reasons collect held a collected submission for review
    (``submitted/<student>/<assignment>``), [] if none."""
    folder = Path(submitted_folder)
    note = folder.with_name(HELD.format(assignment=folder.name))
    return json.loads(note.read_text())["reasons"] if note.is_file() else []
