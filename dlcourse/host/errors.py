"""Host side: the one base class of the errors a user must fix."""


class UserError(RuntimeError):
    """Something the user must fix; the message names the problem and the fix.

    ``python -m dlcourse`` prints it on one line (``error: ...``) and exits
    with a non-zero status. Each module's error derives from it.
    """
