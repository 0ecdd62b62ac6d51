"""Command line: ``python -m dlcourse COMMAND ...``.

  run        execute notebooks with papermill and print a summary
  release    regenerate assignments/ from solutions/ with nbgrader
  autograde  autograde every collected submission of an assignment
  feedback   write the HTML feedback of an assignment
  export     export all grades to a CSV file
"""

import argparse
import sys

from . import instructor, runner


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m dlcourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="execute notebooks with papermill and print a summary")
    run.add_argument("paths", nargs="+", help="notebooks, or folders of notebooks")
    run.add_argument("--fast", action="store_true", help="quick smoke run: sets the FAST parameter; bands are not checked")
    run.add_argument("--timeout", type=int, default=runner.DEFAULT_TIMEOUT, metavar="SECONDS",
                     help=f"stop a notebook that runs longer than this (default {runner.DEFAULT_TIMEOUT})")
    run.add_argument("--output-dir", default="build/executed", help="where executed notebooks go (default build/executed)")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="hide papermill's progress bar")

    for name, text in [("release", "regenerate assignments/ from solutions/"),
                       ("autograde", "autograde every submission in submitted/*/ASSIGNMENT"),
                       ("feedback", "write feedback/*/ASSIGNMENT/*.html for graded students"),
                       ("export", "export all grades to a CSV file")]:
        command = commands.add_parser(name, help=text)
        command.add_argument("--course", default=".", help="the course directory (default: the current one)")
        if name in ("autograde", "feedback"):
            command.add_argument("assignment")
        if name == "autograde":
            command.add_argument("--student", action="append", help="grade only this student (repeatable)")
        if name == "export":
            command.add_argument("--to", default="build/grades.csv", help="the CSV file (default build/grades.csv)")
    return parser


def run_command(args):
    if args.timeout <= 0:
        raise runner.NotebookError(f"--timeout must be a positive number of seconds, not {args.timeout}.")
    results = runner.run(args.paths, args.output_dir, args.fast, args.timeout, args.progress)
    return 0 if all(r.ok for r in results) else 1


def instructor_command(args):
    course = instructor.course_dir(args.course)
    if args.command == "release":
        print("Generated:", ", ".join(instructor.release(course)))
        return 0
    if args.command == "autograde":
        outcomes = instructor.autograde(course, args.assignment, args.student)
        if not outcomes:
            raise instructor.CourseError(f"No submissions in {course}/submitted/*/{args.assignment}. "
                                         "Fix: collect them first (nbgrader collect).")
        print(instructor.format_outcomes(args.assignment, outcomes))
        return 0 if all(o.error is None for o in outcomes) else 1
    if args.command == "feedback":
        files = instructor.feedback(course, args.assignment)
        print(f"Wrote {len(files)} feedback file(s) under {course / 'feedback'}")
        return 0
    print("Wrote", instructor.export(course, args.to))
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return run_command(args) if args.command == "run" else instructor_command(args)
    except (runner.NotebookError, instructor.CourseError) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    sys.exit(main())
