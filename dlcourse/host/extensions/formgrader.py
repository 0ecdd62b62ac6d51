"""The formgrader's Autograde button, graded the course's way, and a
submission's own files served inert (host side; a Jupyter server extension,
enabled for instructors by ``make venv`` and on the hub's staff servers; the
grades for the LMS as downloads are :mod:`dlcourse.host.term.lms`'s own).

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

Every page of the formgrader is sent with a Content-Security-Policy
(:mod:`.script_policy`) that runs only the page's own scripts, the
formgrader's static files and MathJax: defense in depth behind the trusted
merge. A submission's page learns which scripts are its template's by a
second render without the student's cells. The ids in a page's address must
be plain ids, because nbgrader writes them into the page's scripts
unescaped; ``?path=`` is refused (nbgrader would run that folder's
``nbgrader_config.py``); the API answers as text, never as a page.
"""

import asyncio
import html
import json
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from jupyter_server.services.security import csp_report_uri
from nbconvert.exporters import HTMLExporter
from jupyter_server.utils import url_path_join
from nbgrader.server_extensions.formgrader import apihandlers
from nbgrader.server_extensions.formgrader import handlers as pages
from nbgrader.server_extensions.formgrader.base import BaseApiHandler, check_notebook_dir, check_xsrf
from nbgrader.server_extensions.formgrader.handlers import SubmissionFilesHandler
from tornado import web

from . import script_policy
from ..status import Status

AUTOGRADE_URL = r"/formgrader/api/submission/([^/]+)/([^/]+)/autograde"
# A submission's own file: not nbgrader's pages that share the prefix (the
# submission itself, its navigation, the formgrader's components).
FILES_URL = r"/formgrader/submissions/((?!components/)[^/]+/(?!(?:next_incorrect|prev_incorrect|next|prev)/?$).+)"
SHOWN_INLINE = {"image/png", "image/jpeg", "image/gif"}
FILES_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
# What a formgrader page's address may name: an assignment, notebook, student or submission.
PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]*")
# Where the formgrader's pages load scripts, styles, fonts and images from (nbgrader's own
# files; a submission's images), and where their scripts send requests.
STATIC, SUBMISSIONS, API = "formgrader/static/", "formgrader/submissions/", "formgrader/api/"
# nbgrader's formgrader page loads MathJax from this CDN folder (nbconvert's default address),
# and formgrade.js stops before its keyboard shortcuts without it. MathJax's in-page
# configuration is still refused: MathJax runs it with eval.
MATHJAX = HTMLExporter.mathjax_url.default_value.rsplit("/", 2)[0] + "/"
# nbgrader's page handlers that serve files or redirect, not pages: left as they are.
NOT_PAGES = (web.StaticFileHandler, pages.SubmissionNavigationHandler, pages.Template404)
# Names a submission's page prints unescaped (from the gradebook, made from the roster).
PRINTED_NAMES = ("first_name", "last_name", "student")
JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"


class JsonOnly:
    """A formgrader API handler (mixed in) whose answers are text to the
    browser, never a page: nbgrader sends them as text/html, and a name in
    them could otherwise run as script when its address is opened. (Not
    application/json: nbgrader's scripts parse the text themselves, and
    jQuery would hand them an object.)"""

    def set_default_headers(self):
        super().set_default_headers()
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", JSON_POLICY)


class SandboxedAutogradeHandler(JsonOnly, BaseApiHandler):
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
    # A graded submission, and one held for review, are a success for the button; the log says which.
    success = bool(outcomes) and all(Status(o["status"]).finished for o in outcomes)
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


class PolicedPage:
    """A formgrader page (mixed into nbgrader's handler): plain ids in its
    address, and a policy that runs only the page's own scripts.
    ``self.trusted`` is the template's own page when the page shows a
    student's work; otherwise the page is all the template's."""

    trusted = None

    def get(self, *args, **kwargs):
        for value in (*args, *kwargs.values()):
            if value is not None and not PLAIN_ID.fullmatch(value):
                raise web.HTTPError(404, f"{value!r} is not an assignment, notebook, student or submission id")
        if self.get_argument("path", ""):
            # nbgrader's /formgrader/?path=P runs P/nbgrader_config.py in this server: a link or
            # an image in a student's answer could name a folder of theirs.
            raise web.HTTPError(400, "The formgrader grades the course of this server's nbgrader_config.py; "
                                     "?path= is refused (it would run another folder's nbgrader_config.py). "
                                     "Fix: open the formgrader without ?path=.")
        return super().get(*args, **kwargs)

    def write(self, chunk):
        if isinstance(chunk, str):
            here = self.request.host + (self.base_url or "")   # nbgrader's base_url has no trailing slash
            static, submissions, api = (f"{here}/{folder}" for folder in (STATIC, SUBMISSIONS, API))
            policy = script_policy.policy(self.trusted or chunk, [static, MATHJAX], files=[static, submissions],
                                          connect=[api], report_uri=url_path_join(self.base_url or "/",
                                                                                  csp_report_uri))
            self.set_header("Content-Security-Policy", policy)
        return super().write(chunk)


class _TwoRenders:
    """The formgrader's exporter, which also renders the submission bare
    (:func:`script_policy.bare_render`) into ``handler.trusted``."""

    def __init__(self, exporter, handler):
        self.exporter, self.handler = exporter, handler

    def from_filename(self, filename, resources=None):
        """Return what ``exporter.from_filename`` returns, with the names the
        page prints escaped (:data:`PRINTED_NAMES`); set ``handler.trusted``."""
        resources = {key: html.escape(value) if key in PRINTED_NAMES and isinstance(value, str) else value
                     for key, value in (resources or {}).items()}
        named = dict(resources, metadata={"name": Path(filename).stem, "path": str(Path(filename).parent)})
        self.handler.trusted = script_policy.bare_render(self.exporter, nbformat.read(filename, as_version=4), named)
        return self.exporter.from_filename(filename, resources=resources)


class PolicedSubmissionHandler(PolicedPage, pages.SubmissionHandler):
    """nbgrader's page of one submission, policed against its bare render."""

    @property
    def exporter(self):
        return _TwoRenders(super().exporter, self)


def json_apis():
    """Return (route, handler) for each of nbgrader's formgrader API
    handlers, answering as text, never as a page (:class:`JsonOnly`)."""
    return [(route, type(f"Json{handler.__name__}", (JsonOnly, handler), {}))
            for route, handler, *_ in apihandlers.default_handlers]


def policed_pages():
    """Return (route, handler) for each of nbgrader's formgrader pages, its
    handler policed (:class:`PolicedPage`)."""
    routes = []
    for route, handler, *_ in pages.default_handlers:
        if issubclass(handler, NOT_PAGES):
            continue
        if handler is pages.SubmissionHandler:
            routes.append((route, PolicedSubmissionHandler))
        else:
            routes.append((route, type(f"Policed{handler.__name__}", (PolicedPage, handler), {})))
    return routes


def _jupyter_server_extension_points():
    return [{"module": "dlcourse.host.extensions.formgrader"}]


def _load_jupyter_server_extension(server_app):
    web_app = server_app.web_app
    ours = [(AUTOGRADE_URL, SandboxedAutogradeHandler), (FILES_URL, InertSubmissionFilesHandler),
            *policed_pages(), *json_apis()]
    web_app.add_handlers(".*$", [(url_path_join(web_app.settings["base_url"], route), handler)
                                 for route, handler in ours])
