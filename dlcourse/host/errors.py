"""Host side: the one base class of the errors a user must fix, and how a
message quoting a student's text is made safe to show."""

import re


class UserError(RuntimeError):
    """Something the user must fix; the message names the problem and the fix.

    ``python -m dlcourse`` prints it on one line (``error: ...``) and exits
    with a non-zero status. Each module's error derives from it.
    """


MAX_REASON_CHARS = 2_000
# Terminal control: C0 and C1 control characters and DEL (escape sequences start with ESC or CSI).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text):
    """Return a reason as it is safe to show in a terminal, a log or a page:
    control characters escaped (``\\x1b``), at most MAX_REASON_CHARS long.
    Reasons quote what a student chose (paths, names, messages)."""
    text = str(text).encode(errors="surrogatepass").decode(errors="backslashreplace")  # undecodable bytes in a name
    text = CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS] + " [cut]"
