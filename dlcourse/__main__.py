"""``python -m dlcourse``: the instructor's and CI's command line,
:mod:`dlcourse.host.cli`. The student edition has no host side."""

import importlib.util
import sys

if importlib.util.find_spec("dlcourse.host") is None:
    sys.exit("error: the course's instructor tools (dlcourse.host) are not part of the student edition. "
             "Students need none of them: open the course with `make lab`.")

from dlcourse.host.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
