"""The formgrader's Autograde button, graded the course's way, the grades
for the LMS as downloads, and a submission's own files served inert (host
side; a Jupyter server extension, enabled for instructors by ``make venv``
and on the hub's staff servers).

nbgrader's formgrader serves the files a student submitted beside the
notebook (``/formgrader/submissions/<id>/<path>``) as they are, so a
student's ``.html`` or ``.svg`` would run script in the instructor's session.
This extension serves them with ``Content-Security-Policy: sandbox``, no
content sniffing, and anything but an image as a download.

nbgrader's button runs plain ``nbgrader autograde`` in the server: student
code with the instructor's rights. This extension answers the same request
(``POST /formgrader/api/submission/<assignment>/<student>/autograde``) with
``python -P -m dlcourse autograde <assignment> --student <student> --force``
(``-P``: the grading code is the installed course package's, never a
``dlcourse`` folder in the server's working directory):
the sandbox, the trusted merge, the cheat flags and the output caps of
``make autograde``. It loads before nbgrader's formgrader (Jupyter loads
extensions in name order) and tornado serves the first matching handler.
"""

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

from jupyter_server.utils import url_path_join
from nbgrader.server_extensions.formgrader.base import BaseApiHandler, check_notebook_dir, check_xsrf
from nbgrader.server_extensions.formgrader.handlers import SubmissionFilesHandler
from tornado import web

from . import grades, hub

AUTOGRADE_URL = r"/formgrader/api/submission/([^/]+)/([^/]+)/autograde"
EXPORT_URL = r"/formgrader/export/(canvas|moodle)\.csv"
# A submission's own file: not nbgrader's pages that share the prefix (the
# submission itself, its navigation, the formgrader's components).
FILES_URL = r"/formgrader/submissions/((?!components/)[^/]+/(?!(?:next_incorrect|prev_incorrect|next|prev)/?$).+)"
SHOWN_INLINE = {"image/png", "image/jpeg", "image/gif"}
FILES_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
# A graded submission, and one held for review, are a success for the button; the log says which.
DONE = ("graded", "review", "skipped")


class SandboxedAutogradeHandler(BaseApiHandler):
    @web.authenticated
    @check_xsrf
    @check_notebook_dir
    async def post(self, assignment_id, student_id):
        self.write(json.dumps(await autograde(Path(self.coursedir.root), assignment_id, student_id)))


async def autograde(course, assignment, student):
    """Grade one submission with ``python -P -m dlcourse autograde``; return the
    formgrader's answer: {"success": bool, "log": text, "error": text}."""
    with tempfile.TemporaryDirectory() as folder:
        summary = Path(folder) / "summary.json"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-P", "-m", "dlcourse", "autograde", assignment, "--student", student, "--force",
            "--workers", "1", "--summary", str(summary), cwd=course,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output = (await process.communicate())[0].decode(errors="replace")
        outcomes = json.loads(summary.read_text())["outcomes"] if summary.exists() else []
    success = bool(outcomes) and all(o["status"] in DONE for o in outcomes)
    return {"success": success, "log": output, "error": "" if success else output}


class InertSubmissionFilesHandler(SubmissionFilesHandler):
    """nbgrader's handler of a submission's files, with headers that keep
    them from running: a sandbox, no sniffing, a download unless an image."""

    def set_extra_headers(self, path):
        super().set_extra_headers(path)
        self.set_header("Content-Security-Policy", FILES_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        if self.get_content_type() not in SHOWN_INLINE:
            self.set_header("Content-Disposition", "attachment")


class GradesDownloadHandler(BaseApiHandler):
    """``GET /formgrader/export/<canvas|moodle>.csv``: the file ``make grades``
    writes for that LMS, for the roster named by DLCOURSE_ROSTER (the hub sets
    it on staff servers)."""

    @web.authenticated
    @check_notebook_dir
    def get(self, lms):
        roster = os.environ.get(hub.ROSTER_VARIABLE)
        if not roster:
            raise web.HTTPError(404, f"No roster: set {hub.ROSTER_VARIABLE} (the hub does) to export for an LMS.")
        with tempfile.TemporaryDirectory() as folder:
            paths, _ = grades.export(Path(self.coursedir.root), hub.read_roster(roster), folder)
            text = next(p for p in paths if p.name == f"grades-{lms}.csv").read_text()
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="grades-{lms}.csv"')
        self.finish(text)


def _jupyter_server_extension_points():
    return [{"module": "dlcourse.host.formgrader"}]


def _load_jupyter_server_extension(server_app):
    web_app = server_app.web_app
    route = url_path_join(web_app.settings["base_url"], AUTOGRADE_URL)
    web_app.add_handlers(".*$", [(route, SandboxedAutogradeHandler),
                                 (url_path_join(web_app.settings["base_url"], EXPORT_URL), GradesDownloadHandler),
                                 (url_path_join(web_app.settings["base_url"], FILES_URL), InertSubmissionFilesHandler)])
