"""Command line: ``python -m dlcourse COMMAND ...`` (host side).

  run        execute notebooks with papermill and print a summary
  release    regenerate assignments/ from solutions/ with nbgrader
  autograde  autograde every collected submission of an assignment, sandboxed, in parallel
  clear      count the autograded points of a submission held for review
  feedback   write the HTML feedback of an assignment (hidden tests left out)
  export     export all grades to a CSV file (and, with --roster, Canvas's and Moodle's)
  metadata   check (or --fix) the kernel metadata of the committed notebooks
  publish    write the student edition into a folder
  hub        hub-setup, then start JupyterHub unless it runs already (as root; make hub)
  hub-setup  make the hub's accounts, folders and permissions from a roster (as root)
  receipts   write the exchange's receipts for arriving submissions (the hub's receipt service)
"""

import argparse
import os
import sys
from pathlib import Path

from . import backends
from .extensions import receipts
from .grading import merge, submission, whole_class
from .lectures import metadata, runner
from .term import edition, hub, instructor, lms
from .course import CONFIG_FILE, Course, CourseError
from .errors import UserError


def positive(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text}")
    return value


def add_course(command):
    command.add_argument("--course", default=".", help="the course directory (default: the current one)")


def add_backend(command):
    command.add_argument("--backend", choices=list(backends.PACKAGES),
                         help=f"the Keras backend every kernel runs on (default: $KERAS_BACKEND, else {backends.DEFAULT})")


class HelpAll(argparse.Action):
    """``--help-all``: the commands' help, then every ``c.Course`` setting of nbgrader_config.py."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.print_help()
        print("\nThe course's settings (c.Course.<name> = <value> in nbgrader_config.py):\n")
        print(Course.settings_help())
        parser.exit()


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m dlcourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--help-all", action=HelpAll, nargs=0,
                        help="show this help and every c.Course setting of nbgrader_config.py, then exit")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="execute notebooks with papermill and print a summary")
    run.add_argument("paths", nargs="+", help="notebooks, or folders of notebooks")
    run.add_argument("--fast", action="store_true", help="quick smoke run: sets the FAST parameter; bands are not checked")
    defaults = runner.RunOptions(backend=backends.DEFAULT)
    run.add_argument("--timeout", type=positive, default=defaults.timeout, metavar="SECONDS",
                     help=f"stop a notebook that runs longer than this (default {defaults.timeout})")
    run.add_argument("--cell-timeout", type=positive, default=defaults.cell_timeout, metavar="SECONDS",
                     help=f"stop a cell that runs longer than this (default {defaults.cell_timeout})")
    run.add_argument("--output-dir", type=Path, default=defaults.output_dir,
                     help=f"where executed notebooks go (default {defaults.output_dir})")
    run.add_argument("--summary-dir", default="build", help="where summary.md and summary.json go (default build)")
    run.add_argument("--cache", metavar="FOLDER",
                     help="take notebooks whose inputs did not change from this cache (development loop)")
    run.add_argument("--jobs", type=positive, default=1, metavar="N",
                     help="execute N notebooks at a time, each in a process of its own (default 1)")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="hide papermill's progress bar")
    add_backend(run)

    release = commands.add_parser("release", help="regenerate assignments/ from solutions/")
    add_course(release)

    autograde = commands.add_parser("autograde", help="autograde every submission in submitted/*/ASSIGNMENT")
    add_course(autograde)
    autograde.add_argument("assignment")
    autograde.add_argument("--student", action="append", help="grade only this student (repeatable)")
    autograde.add_argument("--workers", type=positive, default=os.cpu_count(),
                           help="grading processes on a local Dask cluster (default: the number of cores)")
    autograde.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="grade on this existing Dask cluster instead")
    autograde.add_argument("--force", action="store_true", help="grade again students already graded")
    autograde.add_argument("--wall-seconds", type=positive,
                           help="time limit for one whole notebook (default: c.Course.submission_seconds)")
    autograde.add_argument("--memory-mb", type=positive,
                           help="memory limit for one submission's grading (default: c.Course.submission_memory_mb)")
    autograde.add_argument("--cell-seconds", type=positive,
                           help="time limit for one cell (default: c.Execute.timeout, as for Validate)")
    autograde.add_argument("--unsafe-no-sandbox", action="store_true",
                           help="run student code without isolation (only for code you trust)")
    autograde.add_argument("--summary", default="build/autograde-summary.json", help="where to write the outcomes as JSON")
    add_backend(autograde)

    clear = commands.add_parser("clear", help="count the autograded points of a submission held for review")
    add_course(clear)
    clear.add_argument("assignment")
    clear.add_argument("student")

    feedback = commands.add_parser("feedback", help="write feedback/*/ASSIGNMENT/*.html for graded students")
    add_course(feedback)
    feedback.add_argument("assignment")

    export = commands.add_parser("export", help="export all grades to a CSV file")
    add_course(export)
    export.add_argument("--to", default="build/grades.csv", help="the CSV file (default build/grades.csv)")
    export.add_argument("--roster", help="also write Canvas's and Moodle's import files beside it, for this roster")
    notebooks = commands.add_parser("metadata", help="check the kernel metadata of the committed notebooks")
    add_course(notebooks)
    notebooks.add_argument("--fix", action="store_true", help="rewrite it to what the course's kernel writes")

    publish = commands.add_parser("publish", help="write the student edition (no solutions) into a folder")
    add_course(publish)
    publish.add_argument("output", help="the folder to write; must be empty or not exist")

    lab = commands.add_parser("lab", help="open the course in JupyterLab (on a hub's course, never as root)")
    add_course(lab)

    setup = commands.add_parser("hub-setup", help="make the hub's accounts, folders and permissions (as root)")
    start = commands.add_parser("hub", help="hub-setup, then JupyterHub, unless it runs already: then the new "
                                            "people can log in, and nothing is restarted (as root)")
    for command in (setup, start):
        add_course(command)
        command.add_argument("--roster", required=True, help="the roster CSV (see hub/roster.example.csv)")
        command.add_argument("--hub-dir", default=hub.DEFAULT_HUB_DIR,
                             help=f"the hub's folder (default {hub.DEFAULT_HUB_DIR})")
    start.add_argument("--config", default=Path(__file__).resolve().parents[2] / "hub" / "jupyterhub_config.py",
                       help="JupyterHub's configuration (default hub/jupyterhub_config.py)")

    receipt = commands.add_parser("receipts", help="write the exchange's receipts for arriving submissions, "
                                                   f"forever (the hub runs it as {receipts.ACCOUNT})")
    receipt.add_argument("course_exchange", type=Path, help="the course's folder in the exchange (<hub dir>/exchange/<course>)")
    return parser


def run_command(args):
    options = runner.RunOptions(output_dir=args.output_dir, fast=args.fast, timeout=args.timeout,
                                cell_timeout=args.cell_timeout, progress=args.progress, cache_dir=args.cache,
                                backend=args.backend or backends.chosen())
    results = runner.run(args.paths, options, summary_dir=args.summary_dir, jobs=args.jobs)
    return 0 if all(r.ok for r in results) else 1


def release_command(args):
    print("Generated:", ", ".join(instructor.release(Course.at(args.course).root)))
    return 0


def autograde_command(args):
    course = Course.at(args.course).root
    limits = submission.Limits(wall_seconds=args.wall_seconds, memory_mb=args.memory_mb,
                               cell_seconds=args.cell_seconds, sandboxed=not args.unsafe_no_sandbox)
    if args.unsafe_no_sandbox:
        print("warning: grading WITHOUT a sandbox: student code can read and change everything you can.",
              file=sys.stderr)
    outcomes = whole_class.autograde_class(course, args.assignment, args.student, args.workers, args.scheduler,
                                           args.force, limits, backend=args.backend)
    print(whole_class.format_table(args.assignment, outcomes))
    whole_class.save_outcomes(args.summary, args.assignment, outcomes)
    return 0 if all(o.status.settled for o in outcomes) else 1


def clear_command(args):
    course = Course.at(args.course).root
    try:
        total = merge.clear_review(course, args.assignment, args.student)
    except FileNotFoundError as exc:
        raise CourseError(str(exc)) from None
    print(f"Cleared {args.student}'s {args.assignment}: {total:g} autograded points now count.")
    return 0


def feedback_command(args):
    course = Course.at(args.course)
    files = instructor.feedback(course.root, args.assignment)
    print(f"Wrote {len(files)} feedback file(s) under {course.feedback()}")
    return 0


def export_command(args):
    course = Course.at(args.course).root
    print("Wrote", instructor.export_csv(course, args.to), "(readable by you and the course's group only)")
    pending = lms.pending_manual_grading(course)
    if args.roster:
        paths, problems = lms.export(course, hub.read_roster(args.roster), Path(args.to).resolve().parent)
        print("Wrote", ", ".join(map(str, paths)))
        for problem in problems:
            print("note:", problem)
    if pending:
        print(f"{len(pending)} submission(s) still have answers {lms.PENDING}, exported as empty cells, "
              f"not as 0: {', '.join(f'{s} ({a})' for a, s in pending)}. Fix: grade them in the formgrader, "
              "then make grades again.")
    return 0


def metadata_command(args):
    course = Course.at(args.course).root
    info = metadata.kernel_language_info()
    wrong = {p: metadata.differences(p, info) for p in metadata.course_notebooks(course)}
    wrong = {p: keys for p, keys in wrong.items() if keys}
    for path, keys in wrong.items():
        if args.fix:
            metadata.fix(path, info)
        print(f"{'fixed' if args.fix else 'differs'}: {path.relative_to(course)} ({', '.join(keys)})")
    if wrong and not args.fix:
        print("Fix: python -m dlcourse metadata --fix")
    return 0 if args.fix or not wrong else 1


def publish_command(args):
    folder = edition.publish(Course.at(args.course).root, args.output)
    print(f"Wrote the student edition to {folder}")
    return 0


def lab_command(args):
    """Replace this process with JupyterLab in the course (``--allow-root``
    only where root may run it: not on a hub's course, which main refuses)."""
    jupyter = str(Path(sys.executable).parent / "jupyter")
    os.chdir(Course.at(args.course).root)
    os.execv(jupyter, [jupyter, "lab", *(["--allow-root"] if os.geteuid() == 0 else [])])


def hub_setup_command(args):
    report = hub.setup(args.course, args.roster, args.hub_dir)
    print(f"New accounts: {', '.join(report['created']) or 'none'}; already there: {len(report['kept'])}.")
    if report["created"]:
        print(f"Their passwords: {hub.HubDir(args.hub_dir, '').new_accounts} (root only).")
    if report["not_in_roster"]:
        print(f"In the course's groups but not in the roster (kept; remove with userdel): "
              f"{', '.join(report['not_in_roster'])}")
    return 0


def receipts_command(args):
    for name in ("inbound", receipts.RECEIPTS):
        if not (args.course_exchange / name).is_dir():
            raise UserError(f"No {name} folder in {args.course_exchange}. Fix: sudo make hub (it lays out the exchange).")
    receipts.serve(args.course_exchange)


def hub_command(args):
    hub_setup_command(args)
    pid = hub.running(args.hub_dir, Course.at(args.course).course_id)
    if pid:
        print(f"The hub is running (pid {pid}): the new people can log in now. Nothing was restarted.")
        return 0
    sys.stdout.flush()
    hub.start(args.course, args.roster, args.hub_dir, args.config)


def refuse_root(args):
    """Raise hub.HubError if root runs a staff command on a hub's course:
    the one given with --course, or, for ``run``, the one each path is in."""
    folders = [Path(args.course)] if hasattr(args, "course") else [Path(p).resolve() for p in args.paths]
    for folder in folders:
        for candidate in [folder, *folder.parents]:
            if (candidate / CONFIG_FILE).is_file():
                hub.refuse_root(Course.at(candidate))
                break


COMMANDS = {"run": run_command, "release": release_command, "autograde": autograde_command,
            "clear": clear_command, "feedback": feedback_command, "export": export_command,
            "metadata": metadata_command, "publish": publish_command, "lab": lab_command,
            "hub": hub_command, "hub-setup": hub_setup_command, "receipts": receipts_command}


# Commands whose files (grades, feedback, graded notebooks, the gradebook) are
# the course's group's alone: they write with this umask.
PRIVATE = {"release", "autograde", "clear", "feedback", "export"}
PRIVATE_UMASK = 0o007


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command in PRIVATE:
        os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)
    try:
        if args.command in hub.STAFF_COMMANDS:
            refuse_root(args)
        if getattr(args, "course", None) is not None:
            Course.at(args.course)   # a wrong c.Course setting stops every command, named
        return COMMANDS[args.command](args)
    except UserError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    sys.exit(main())
