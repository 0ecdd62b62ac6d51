"""``python -m dlcourse``: the instructor's and CI's command line,
:mod:`dlcourse.host.cli`. The student edition has no host side."""

import sys

try:
    from dlcourse.host.cli import main
except ImportError as exc:
    sys.exit(f"error: the course's instructor tools are not installed here ({exc}). "
             "They live in the instructor's repository, not in the student edition.")

if __name__ == "__main__":
    sys.exit(main())
