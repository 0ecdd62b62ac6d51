"""A term on one JupyterHub machine (host side, as root): the roster, one
Unix account per person, the folders and who may read them, and what each
role's Jupyter server loads. ``hub/jupyterhub_config.py`` reads the same.

    python -m dlcourse hub --roster hub/roster.csv [--hub-dir /srv/dlcourse]

sets up (:func:`setup`), then starts JupyterHub with hub/jupyterhub_config.py
unless the hub of that folder runs already (:func:`running`). Running it
again after the roster grew adds the new people and changes nothing else:
no password, home, grade or file of anyone already there, and a running hub
is neither stopped nor restarted. It lets in the members of the course's two
groups, read at each log-in, so the newcomers can log in at once.

The hub folder (``--hub-dir``):

    state/        root only: the hub's database and cookie secret, new-accounts.csv
    exchange/     nbgrader's exchange (see dlcourse.host.extensions.exchange), and its
                  receipts (dlcourse.host.extensions.receipts), written by their own account
    edition/      the student edition, copied into each new student's home
    jupyter/student, jupyter/staff    each role's Jupyter configuration
    jupyter/data  the hub's kernelspec (on every server's JUPYTER_PATH)

Roles (:func:`lock_course`): the course directory is root's, and the staff
group reads it; the staff write only the folders grading needs
(:func:`staff_folders`). Root makes accounts, groups and folders and never
reads or writes what the staff or a student can change: the gradebook and
the edition are written as ``dlcourse-setup`` in the staff group, a student's copy
of the edition as that student (:func:`as_account`).
"""

import csv
import errno
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook

from ...datasets import files
from ...jupyter import (INSTRUCTOR_LAB_EXTENSIONS, INSTRUCTOR_SERVER_EXTENSIONS, KERNEL_NAME,
                       COURSE_SERVER_EXTENSIONS, hub_kernelspec)
from . import edition, limits
from ..extensions import exchange, receipts
from ..course import Course
from ..errors import UserError

ROSTER_COLUMNS = ("username", "full_name", "student_id", "role")
STAFF_ROLES = ("instructor", "ta")
ROLES = ("student", *STAFF_ROLES)
STAFF_GROUP = "dlcourse-staff"
STUDENT_GROUP = "dlcourse-students"
DEFAULT_HUB_DIR = "/srv/dlcourse"
# The roster's path, for the hub and for staff servers (the grades' downloads).
ROSTER_VARIABLE = "DLCOURSE_ROSTER"
# Unix user names as useradd takes them without --badname.
USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# What useradd refuses in an account's comment (its full name, /etc/passwd's GECOS field).
FORBIDDEN_IN_NAME = ":"
# Accounts below this uid, and nobody, belong to the system (Debian's FIRST_UID in adduser.conf).
FIRST_PERSON_UID = 1000
NOBODY_UID = 65534
# Left readable by students in the course directory: the kernel's Python and the course package.
STUDENT_READABLE = (".venv", "dlcourse")
# Where the grade exports go (make grades): written by the staff, beside nbgrader's folders.
EXPORTS = "build"
COURSE_MODE = 0o751   # root's, listed by the staff, passed through by students' kernels
# Root reads and writes course content only as this account, in the staff group (as_account):
# a system account of the course's own (nobody is shared with other daemons, which could change the edition).
UNPRIVILEGED = "dlcourse-setup"
# The idle culler's account: no other process runs as it, so none can read its hub token.
CULLER_ACCOUNT = "dlcourse-culler"
# Commands that read or run what the staff write: on a hub's course, never as root (refuse_root).
STAFF_COMMANDS = ("run", "release", "autograde", "clear", "feedback", "export", "publish", "metadata", "lab")
NEW_ACCOUNTS = "new-accounts.csv"
# Where a student's server opens: their copy of the student edition.
STUDENT_FOLDER = "~/course"
HOME_MODE = 0o700   # everyone's home, staff's included
# Off on students' servers, on on the staff's.
SERVER_EXTENSIONS = (*INSTRUCTOR_SERVER_EXTENSIONS, *COURSE_SERVER_EXTENSIONS)


class HubError(UserError):
    """The roster, the machine or the course cannot make a hub; says the fix."""


@dataclass(frozen=True)
class Person:
    username: str
    full_name: str
    student_id: str
    role: str
    line: int = field(default=0, compare=False)   # the roster's line, for errors

    @property
    def staff(self):
        return self.role in STAFF_ROLES


def read_roster(path):
    """Return the roster's people, in its order.

    Every row is checked before anything is returned, and every bad row is
    named, so that one run shows the whole list of fixes.

    Raises:
        HubError: the file is missing or unreadable, a column is missing, or
            rows are bad: a missing field, a user name ``useradd`` refuses, a
            full name with a character the account's comment cannot hold, an
            unknown role, a repeated user name or student id (each with its
            line and the fix).
    """
    path = Path(path)
    if not path.is_file():
        raise HubError(f"No roster at {path}. Fix: write one like hub/roster.example.csv ({', '.join(ROSTER_COLUMNS)}).")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise HubError(f"{path} is not a CSV file in UTF-8 ({exc}). Fix: save it as CSV, UTF-8.") from None
    missing = [c for c in ROSTER_COLUMNS if rows and c not in rows[0]] or ([] if rows else ["every row"])
    if missing:
        raise HubError(f"{path}: missing {', '.join(missing)}. Fix: the first line is {','.join(ROSTER_COLUMNS)}.")
    people, errors, seen = [], [], {}
    for number, row in enumerate(rows, start=2):
        problems = row_problems(row)
        person = Person(*((row.get(c) or "").strip() for c in ROSTER_COLUMNS), line=number)
        for key in ("username", "student_id"):
            value = getattr(person, key)
            if value and (key, value) in seen:
                problems.append(f"{key} {value!r} is also on line {seen[key, value]}. Fix: one row per person.")
            seen.setdefault((key, value), number)
        errors += [f"line {number}: {problem}" for problem in problems]
        people.append(person)
    if errors:
        raise HubError(f"{path} has {len(errors)} bad row(s); nothing was changed:\n  " + "\n  ".join(errors))
    return people


def row_problems(row):
    """Return what is wrong with one roster row (a csv.DictReader dict), as
    sentences that end with the fix; [] if nothing."""
    if None in row:   # more fields than columns
        return [f"{len(ROSTER_COLUMNS) + len(row[None])} fields. Fix: exactly {len(ROSTER_COLUMNS)}: "
                f"{','.join(ROSTER_COLUMNS)} (quote a full name that holds a comma)."]
    absent = [c for c in ("username", "full_name", "role") if not (row.get(c) or "").strip()]
    if absent:
        return [f"no {' or '.join(absent)}. Fix: fill in {', '.join(absent)} ({','.join(ROSTER_COLUMNS)})."]
    problems = []
    username, full_name, role = (row[c].strip() for c in ("username", "full_name", "role"))
    if not USERNAME.match(username):
        problems.append(f"{username!r} cannot be a Unix user name. "
                        "Fix: lower-case letters, digits, - and _, starting with a letter, at most 32.")
    if any(ch in full_name for ch in FORBIDDEN_IN_NAME) or not full_name.isprintable():
        problems.append(f"the full name {full_name!r} has a character a Unix account's name cannot hold "
                        "(':' or a control character). Fix: leave it out.")
    if role not in ROLES:
        problems.append(f"role {role!r}. Fix: one of {', '.join(ROLES)}.")
    return problems


def check_accounts(people, roster):
    """Raise HubError unless every existing account the roster names can be
    one of the course's people: not a system account, and not in the other
    role's group (a student who is staff, or the reverse); return None."""
    errors = []
    for person in people:
        try:
            account = pwd.getpwnam(person.username)
        except KeyError:
            continue
        if account.pw_uid < FIRST_PERSON_UID or account.pw_uid == NOBODY_UID:
            errors.append(f"line {person.line}: {person.username!r} is a system account on this machine "
                          f"(uid {account.pw_uid}). Fix: another user name in the roster.")
            continue
        other = STUDENT_GROUP if person.staff else STAFF_GROUP
        if person.username in group_members(other):
            errors.append(f"line {person.line}: {person.username!r} is already in {other}, but the roster "
                          f"makes them {person.role}. Fix: correct the role, or gpasswd -d {person.username} {other}.")
    if errors:
        raise HubError(f"{roster}: {len(errors)} account(s) cannot be the course's; nothing was changed:\n  "
                       + "\n  ".join(errors))


def group_members(name):
    """Return the user names in the Unix group ``name`` ([] if there is no such group)."""
    try:
        return list(grp.getgrnam(name).gr_mem)
    except KeyError:
        return []


class HubDir:
    """The hub folder's paths (see the module's docstring)."""

    def __init__(self, root, course_id):
        self.root = Path(root)
        self.state = self.root / "state"
        self.exchange = self.root / "exchange"
        self.course_exchange = self.exchange / course_id
        self.edition = self.root / "edition"
        self.student_config = self.root / "jupyter" / "student"
        self.staff_config = self.root / "jupyter" / "staff"
        self.jupyter_path = self.root / "jupyter" / "data"
        self.new_accounts = self.state / NEW_ACCOUNTS
        self.pid_file = self.state / "jupyterhub.pid"   # JupyterHub writes it, and removes it when it stops


def setup(course, roster, hub_dir=DEFAULT_HUB_DIR):
    """Make (or bring up to date) the hub's accounts, folders and
    configuration for ``course``; return {"created": [...], "kept": [...],
    "not_in_roster": [...]} of user names.

    Everything is checked before anything is made or changed: a bad roster
    or machine leaves accounts, groups, folders and modes as they were.

    Raises:
        HubError: not run as root, a bad roster, an account of the roster's
            that cannot be the course's (:func:`check_accounts`), or a course,
            Python or dataset folder that students cannot reach.
        limits.LimitsError: a bad limit, or the machine cannot enforce the limits.
    """
    if os.geteuid() != 0:
        raise HubError("Setting up the hub makes Unix accounts and needs root. Fix: sudo make hub.")
    layout = Course.at(course)
    course = layout.root
    writable = staff_folders(layout)
    check_roster_is_roots(roster, layout, writable)   # before it is read: where it is decides whether to trust it
    people = read_roster(roster)
    check_accounts(people, roster)
    check_open_to_all(sys.executable, "the course's Python",
                      "rebuild .venv from a system Python: rm -rf .venv && make venv PYTHON=/usr/bin/python3.11")
    check_open_to_all(course, "the course directory (students' kernels run its .venv)",
                      "put the course under a folder every user can enter (chmod o+x on each folder above it)")
    check_root_only(course.parent, "the folder that holds the course (root runs the course's code)",
                    f"move the course under a folder only root can write, e.g. {Path(DEFAULT_HUB_DIR).parent}")
    check_links(layout, writable)
    data = files.data_dir() or files.SHARED_DATA_DIR
    check_open_to_all(data / "MANIFEST.json", "the dataset files", f"chmod -R o+rX {data}")
    if limits.configured():
        limits.check_machine()
    hub = HubDir(hub_dir, layout.course_id)
    staff_gid = ensure_group(STAFF_GROUP)
    ensure_group(STUDENT_GROUP)
    for account in (receipts.ACCOUNT, UNPRIVILEGED, CULLER_ACCOUNT):
        ensure_system_account(account)
    make_folders(hub, staff_gid)
    move_old_gradebook(layout)
    lock_course(layout, writable, staff_gid)
    as_account(UNPRIVILEGED, staff_gid, 0o022, publish_edition, course, hub.edition)
    write_role_configs(hub, course)
    created, kept = [], []
    for person in people:
        (created if ensure_account(person, hub) else kept).append(person.username)
        close_home(person)
        account = pwd.getpwnam(person.username)
        folder = Path(STUDENT_FOLDER.replace("~", account.pw_dir, 1))
        if not person.staff and not os.path.lexists(folder):   # their work is never replaced
            as_account(person.username, account.pw_gid, 0o022, give_course_folder, hub.edition, folder)
    as_account(UNPRIVILEGED, staff_gid, 0o007, add_to_gradebook, course, [p for p in people if not p.staff])
    members = set(grp.getgrnam(STAFF_GROUP).gr_mem) | set(grp.getgrnam(STUDENT_GROUP).gr_mem)
    return {"created": created, "kept": kept,
            "not_in_roster": sorted(members - {p.username for p in people})}


def running(hub_dir, course_id):
    """Return the pid of the JupyterHub serving ``hub_dir``, or None if
    none runs (no pid file, or its process is gone or is no JupyterHub)."""
    pid_file = HubDir(hub_dir, course_id).pid_file
    try:
        pid = int(pid_file.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        owner = os.stat(f"/proc/{pid}").st_uid
    except (OSError, ValueError):
        return None
    # Root's: a student's process named jupyterhub on a reused pid is not the hub.
    return pid if b"jupyterhub" in command and owner == 0 else None


def start(course, roster, hub_dir, config):
    """Replace this process with JupyterHub for ``course`` (the
    ``config`` file: hub/jupyterhub_config.py), its folder and roster
    passed on in the environment; never returns."""
    env = dict(os.environ, DLCOURSE_COURSE=str(Course.at(course).root), DLCOURSE_HUB_DIR=str(Path(hub_dir).resolve()),
               **{ROSTER_VARIABLE: str(Path(roster).resolve())})
    hub = str(Path(sys.executable).parent / "jupyterhub")
    os.execve(hub, [hub, "-f", str(config)], env)


def not_roots_alone(path):
    """Return the first of ``path`` (if it exists) and the folders above it
    that is not root's or that others than root can write, or None if
    there is none (no one else can replace what is there)."""
    for folder in [path, *path.parents]:
        try:
            info = folder.stat()
        except FileNotFoundError:
            continue
        if info.st_uid != 0 or info.st_mode & 0o022:
            return folder
    return None


def check_root_only(path, what, fix):
    """Raise HubError unless ``path`` and every folder above it are root's
    and writable by no one else (so no one else can replace what root runs)."""
    real = Path(path).resolve()
    folder = not_roots_alone(real)
    if folder is not None:
        why = "writable by its group or everyone" if folder.stat().st_uid == 0 else "not root's"
        raise HubError(f"{what.capitalize()} ({real}) could be changed by others than root: {folder} is {why}. "
                       f"Fix: {fix}.")


def check_roster_is_roots(roster, layout, writable):
    """Raise HubError if the roster (root reads it to decide who is staff) is
    in a folder the staff write, or outside the course where others than root
    could change it; one in the rest of the course is made root's by
    :func:`lock_course`."""
    real = Path(roster).resolve()
    if any(folder == real or folder in real.parents for folder in writable):
        raise HubError(f"The roster {real} is in a folder the staff write, but it decides who is staff. "
                       "Fix: keep it in hub/ (hub/roster.csv).")
    if layout.root not in real.parents:
        check_root_only(real, "the roster (it decides who is staff)", f"sudo chown root {real} and chmod go-w it "
                        "and the folders above it, or keep it in the course's hub/")


def check_links(layout, writable):
    """Raise HubError if a link among what root runs or reads in the course
    (all but the ``writable`` folders) leads where others than root can
    write: into a staff folder, or outside the course to a place that is not
    root's alone (a home, /tmp). lock_course leaves links as they are, so
    one made before the course was root's would be followed by root."""
    course = layout.root
    bad = []
    for folder, folders, names in os.walk(course):
        here = Path(folder)
        if here == course:
            folders[:] = [f for f in folders if course / f not in writable]
        for name in folders + names:
            link = here / name
            if not link.is_symlink():
                continue
            target = Path(os.path.realpath(link))
            inside = course in target.parents
            if (inside and any(target == w or w in target.parents for w in writable)) or (
                    not inside and target != course and not_roots_alone(target) is not None):
                bad.append(f"{link} -> {target}")
    if bad:
        raise HubError(f"{len(bad)} link(s) in the course lead where others than root can write, and root "
                       "would follow them: " + "; ".join(bad[:20]) + ". Fix: sudo rm each link (or put the file "
                       "itself in its place), then sudo make hub again.")


def check_open_to_all(path, what, fix):
    """Raise HubError unless any user can reach ``path`` (every folder on the
    way to its real place lets others through) and read it, or pass through
    it if it is a folder."""
    real = Path(path).resolve()
    for folder in reversed(real.parents):
        if not folder.stat().st_mode & 0o001:
            raise HubError(f"Students cannot reach {what} ({real}): {folder} is closed to other users. Fix: {fix}.")
    if not real.stat().st_mode & (0o001 if real.is_dir() else 0o004):
        raise HubError(f"Students cannot {'enter' if real.is_dir() else 'read'} {what} ({real}). Fix: {fix}.")


def ensure_group(name):
    """Create the Unix group ``name`` unless it exists; return its gid."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        subprocess.run(["groupadd", name], check=True)
        return grp.getgrnam(name).gr_gid


def ensure_system_account(name):
    """Create the system account ``name`` (no home, no log-in) unless it
    exists; return its uid."""
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", name], check=True)
        return pwd.getpwnam(name).pw_uid


def make_folder(path, mode, gid=0, uid=0):
    """Make the folder ``path`` unless it is there, and give it ``uid``,
    ``gid`` and ``mode`` through a descriptor that never follows a link;
    return None.

    Raises:
        HubError: a link or a file is where the folder should be.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:   # ELOOP: a link; ENOTDIR: a file
        raise HubError(f"{path} should be a folder of the hub's, but it is {'a link' if path.is_symlink() else 'a file'} "
                       f"({exc.strerror}). Fix: sudo rm it (someone may have put it there), then sudo make hub "
                       "again.") from None
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def make_folders(hub, staff_gid):
    """Lay out the hub folder with the modes of dlcourse.host.extensions.exchange."""
    make_folder(hub.root, 0o755)
    make_folder(hub.state, 0o700)
    make_folder(hub.exchange, 0o755)
    # Sticky: the staff add assignments' folders, but cannot move or remove the folders made here.
    make_folder(hub.course_exchange, 0o3775, staff_gid)
    make_folder(hub.course_exchange / "outbound", 0o2775, staff_gid)
    make_folder(hub.course_exchange / "inbound", 0o3773, staff_gid)
    exchange.let_staff_read(hub.course_exchange / "inbound", STAFF_GROUP)
    exchange.let_receipts_read(hub.course_exchange / "inbound", receipts.ACCOUNT)
    # Written by the receipt service's account alone, read by the staff (collect).
    make_folder(hub.course_exchange / receipts.RECEIPTS, 0o2750, staff_gid, pwd.getpwnam(receipts.ACCOUNT).pw_uid)
    make_folder(hub.course_exchange / "feedback", 0o2771, staff_gid)
    # Written as UNPRIVILEGED (publish_edition); one an earlier version wrote as root is written anew.
    unprivileged = pwd.getpwnam(UNPRIVILEGED).pw_uid
    if hub.edition.is_dir() and hub.edition.stat().st_uid != unprivileged:
        shutil.rmtree(hub.edition)
    make_folder(hub.edition, 0o755, 0, unprivileged)


def make_world_readable(folder):
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)


def staff_folders(layout):
    """Return the folders of the course the staff write (absolute Paths,
    each directly in the course folder): nbgrader's source, release,
    submitted, autograded and feedback folders, the gradebook's folder and
    the exports' (EXPORTS). Folders configured outside the course are not
    the course's to give.

    Raises:
        HubError: one of them is the course folder itself or deeper in it
            (the gradebook directly in the course, as nbgrader's default has it).
    """
    root = layout.root
    wanted = [layout.source(), layout.release(), layout.submitted(), layout.autograded(), layout.feedback(),
              layout.gradebook_path.parent, root / EXPORTS]
    folders = []
    for folder in (Path(os.path.normpath(f)) for f in wanted):
        if folder == root or (root in folder.parents and folder.parent != root):
            raise HubError(f"{folder} cannot be given to the staff alone: the staff write it, so it must be a "
                           f"folder directly in the course. Fix: in {layout.config_path}, keep nbgrader's folders "
                           "and the gradebook's (c.CourseDirectory.db_url) directly in the course, e.g. "
                           "gradebook/gradebook.db.")
        if folder.parent == root and folder not in folders:
            folders.append(folder)
    return folders


def move_old_gradebook(layout):
    """Move a gradebook.db left directly in the course (where nbgrader puts
    it by default, and this course did before its gradebook had a folder)
    to the configured place, unless one is there; return None."""
    old = layout.root / "gradebook.db"
    new = layout.gradebook_path
    if new != old and old.exists() and not new.exists():
        new.parent.mkdir(exist_ok=True)
        os.rename(old, new)


def lock_course(layout, writable, staff_gid):
    """Make the course directory root's: root owns it and all in it, the
    staff group reads it and no one else writes it, except the ``writable``
    folders (:func:`staff_folders`), which the staff group reads and writes;
    students pass through the top to what their kernels need
    (STUDENT_READABLE) and see nothing else. Links are never followed, and
    files with more than one name are left as they are; return None."""
    course = layout.root
    for folder in writable:
        folder.mkdir(exist_ok=True)
    os.chown(course, 0, staff_gid)
    os.chmod(course, COURSE_MODE)
    for entry in os.scandir(course):
        if entry.is_symlink():
            continue
        path = Path(entry.path)
        if path in writable:
            settle_tree(path, -1, staff_gid, staff_mode)
        else:
            settle_tree(path, 0, staff_gid, student_readable_mode if entry.name in STUDENT_READABLE else roots_mode)


def staff_mode(mode, folder):
    """The mode of a file or folder the staff group writes (folders set-group-ID)."""
    mode &= 0o777
    return (mode | 0o2070) & ~0o007 if folder else (mode | 0o060) & ~0o007


def roots_mode(mode, folder):
    """The mode of root's file or folder that the staff group reads (no set-ID bits)."""
    return (mode & 0o755 | 0o040 | (0o010 if folder else 0)) & ~0o007


def student_readable_mode(mode, folder):
    """As roots_mode, and everyone keeps the read and pass of what the file had."""
    return mode & 0o755 | 0o040 | (0o010 if folder else 0)


def settle_tree(top, uid, gid, mode_of):
    """Give ``top`` and all under it the owner ``uid`` (-1 keeps it), the
    group ``gid`` and the mode ``mode_of(mode, is_folder)``, through file
    descriptors that never follow a link (a link swapped in on the way
    changes nothing); return None."""
    parent = os.open(top.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        settle(parent, top.name, uid, gid, mode_of)
    finally:
        os.close(parent)
    if top.is_dir() and not top.is_symlink():
        for _, folders, names, folder_fd in os.fwalk(top):
            for name in folders + names:
                settle(folder_fd, name, uid, gid, mode_of)


def settle(folder_fd, name, uid, gid, mode_of):
    """settle_tree for one entry of an open folder: regular files and
    folders only, a file with one name only; one gone or swapped meanwhile
    (a journal SQLite removed, a link) is left."""
    try:
        settle_entry(folder_fd, name, uid, gid, mode_of)
    except OSError as exc:   # gone, a link, a socket, or leased meanwhile
        if exc.errno not in (errno.ENOENT, errno.ELOOP, errno.ENXIO, errno.EWOULDBLOCK):
            raise
        print(f"note: {name} was left as it is ({exc.strerror}).", file=sys.stderr)


def settle_entry(folder_fd, name, uid, gid, mode_of):
    info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    folder = stat.S_ISDIR(info.st_mode)
    if not (folder or stat.S_ISREG(info.st_mode)) or (not folder and info.st_nlink > 1):
        return
    mode = mode_of(info.st_mode & 0o7777, folder)
    if info.st_uid == (uid if uid >= 0 else info.st_uid) and info.st_gid == gid and info.st_mode & 0o7777 == mode:
        return
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=folder_fd)
    try:
        if (os.fstat(fd).st_ino, os.fstat(fd).st_dev) == (info.st_ino, info.st_dev):
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def as_account(account, gid, umask, function, *args):
    """Run ``function(*args)`` in a child process as the Unix user
    ``account``, with ``gid`` its only group and ``umask``, from /; return
    None. Root reads and writes what others can change only this way.

    Raises:
        HubError: the function raised (its error, named), or the child died.
    """
    uid = pwd.getpwnam(account).pw_uid
    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:   # pragma: no cover -- the child's coverage is its parent's report
        os.close(read)
        try:
            os.chdir("/")
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.umask(umask)
            function(*args)
            code = 0
        except BaseException as exc:
            os.write(write, f"{type(exc).__name__}: {exc}".encode(errors="replace")[:8000])
            code = 1
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        error = pipe.read().decode(errors="replace")
    _, status = os.waitpid(child, 0)
    if status:
        error = (error or f"it ended with wait status {status}").rstrip(".")
        fix = "" if "Fix:" in error else " Fix: correct the file it names, then sudo make hub again."
        raise HubError(f"{function.__name__.replace('_', ' ').capitalize()}, as {account}, failed: {error}.{fix}")


def publish_edition(course, folder):
    """Write the student edition of ``course`` into ``folder``, readable by
    everyone (as UNPRIVILEGED, through :func:`as_account`); return None."""
    edition.publish(course, folder)
    make_world_readable(folder)


def ensure_account(person, hub):
    """Create ``person``'s Unix account unless it exists (an existing one,
    checked by :func:`check_accounts`, joins the role's group); return True
    if it was created (its password is then appended to state/new-accounts.csv)."""
    group = STAFF_GROUP if person.staff else STUDENT_GROUP
    try:
        pwd.getpwnam(person.username)
    except KeyError:
        pass
    else:
        subprocess.run(["usermod", "-a", "-G", group, person.username], check=True)
        return False
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", person.full_name,
                    "--groups", group, person.username], check=True)
    password = secrets.token_urlsafe(12)
    subprocess.run(["chpasswd"], input=f"{person.username}:{password}\n", text=True, check=True)
    new = not hub.new_accounts.exists()
    with open(hub.new_accounts, "a", newline="") as handle:
        os.chmod(hub.new_accounts, 0o600)
        writer = csv.writer(handle)
        if new:
            writer.writerow(["username", "role", "password"])
        writer.writerow([person.username, person.role, password])
    return True


def close_home(person):
    """Make ``person``'s home folder theirs alone (0700; staff share through
    the course directory, not their homes); return its Path."""
    account = pwd.getpwnam(person.username)
    home = Path(account.pw_dir)
    home.mkdir(exist_ok=True)
    os.chown(home, account.pw_uid, -1)
    os.chmod(home, HOME_MODE)
    return home


def give_course_folder(edition_folder, folder):
    """Copy the student edition into a student's ``folder`` (their
    ``~/course``), as the student (:func:`as_account`); return None."""
    shutil.copytree(edition_folder, folder)


def write_role_configs(hub, course):
    """Write each role's Jupyter configuration folder (on JUPYTER_CONFIG_PATH
    for that role's servers); return None."""
    course = Course.at(course)
    factory = "".join(f"c.ExchangeFactory.{k} = {v!r}\n" for k, v in exchange.FACTORY.items())
    common = (f"c = get_config()\nc.Exchange.root = {str(hub.exchange)!r}\n"
              f"c.CourseDirectory.course_id = {course.course_id!r}\n{factory}")
    tools = {"disabledExtensions": dict.fromkeys(INSTRUCTOR_LAB_EXTENSIONS, True),
             "lockedExtensions": dict.fromkeys(INSTRUCTOR_LAB_EXTENSIONS, True)}
    files = {
        # Fetched assignments go next to the lectures, in the folder the student's server opens.
        hub.student_config / "nbgrader_config.py": (common + "import os\n"
                                                    f"c.Exchange.assignment_dir = os.path.expanduser({STUDENT_FOLDER!r})\n"),
        hub.student_config / "labconfig" / "page_config.json": json.dumps(tools, indent=1),
        hub.student_config / "jupyter_server_config.json": json.dumps(
            {"ServerApp": {"jpserver_extensions": dict.fromkeys(SERVER_EXTENSIONS, False)}}, indent=1),
        # Staff servers start in their home: nbgrader reads the course's own config from here.
        # They share the course directory through their group (nbgrader's groupshared).
        hub.staff_config / "nbgrader_config.py": (f"load_subconfig({str(course.config_path)!r})\n"
                                                  + common + "c.CourseDirectory.groupshared = True\n"),
        hub.staff_config / "jupyter_server_config.json": json.dumps(
            {"ServerApp": {"jpserver_extensions": dict.fromkeys(SERVER_EXTENSIONS, True),
                           # The formgrader is a frame inside JupyterLab: allow framing by the same origin only.
                           "tornado_settings": {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}}},
            indent=1),
        hub.jupyter_path / "kernels" / KERNEL_NAME / "kernel.json": json.dumps(hub_kernelspec(), indent=1),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    make_world_readable(hub.root / "jupyter")


def add_to_gradebook(course, students):
    """Add or update the roster's students in the course's gradebook, with
    their names and the university's id (nbgrader's lms_user_id); return
    None. Run as UNPRIVILEGED in the staff group (:func:`as_account`)."""
    layout = Course.at(course)
    with Gradebook(layout.gradebook_url, layout.course_id) as gradebook:
        for person in students:
            first, _, last = person.full_name.partition(" ")
            gradebook.update_or_create_student(person.username, first_name=first, last_name=last,
                                               lms_user_id=person.student_id)


def refuse_root(course):
    """Raise HubError if this process is root and ``course`` (a Course) is a
    hub's course (given to the staff group by :func:`lock_course`): what
    grades, exports or runs its notebooks reads what the staff write, and
    runs as a member of the staff, never as root; return None."""
    try:
        staff_gid = grp.getgrnam(STAFF_GROUP).gr_gid
    except KeyError:
        return
    if os.geteuid() == 0 and course.root.stat().st_gid == staff_gid:
        raise HubError(f"{course.root} is a hub's course: grading, exports and releases run as a member of "
                       f"the staff ({STAFF_GROUP}), never as root, because they read files the staff can write. "
                       "Fix: run it in a terminal of your own on the hub (JupyterLab's File > New > Terminal), "
                       "or sudo -u <your user name> make ...")

