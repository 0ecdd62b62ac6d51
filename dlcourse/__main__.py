"""Command line: ``python -m dlcourse COMMAND ...`` (see ``--help``)."""

import argparse
import sys

from . import runner


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m dlcourse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="execute notebooks with papermill and print a summary")
    run.add_argument("paths", nargs="+", help="notebooks, or folders of notebooks")
    run.add_argument("--fast", action="store_true", help="quick smoke run: sets the FAST parameter; bands are not checked")
    run.add_argument("--timeout", type=int, default=runner.DEFAULT_TIMEOUT, metavar="SECONDS",
                     help=f"stop a notebook that runs longer than this (default {runner.DEFAULT_TIMEOUT})")
    run.add_argument("--output-dir", default="build/executed", help="where executed notebooks go (default build/executed)")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="hide papermill's progress bar")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "run":
        if args.timeout <= 0:
            sys.exit(f"error: --timeout must be a positive number of seconds, not {args.timeout}.")
        try:
            results = runner.run(args.paths, args.output_dir, args.fast, args.timeout, args.progress)
        except runner.NotebookError as exc:
            sys.exit(f"error: {exc}")
        return 0 if all(r.ok for r in results) else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
