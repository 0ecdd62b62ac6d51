"""The formgrader's Autograde button, graded the course's way (host side; a
Jupyter server extension, enabled for instructors by ``make venv`` and on
the hub's staff servers).

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
import sys
import tempfile
from pathlib import Path

from jupyter_server.utils import url_path_join
from nbgrader.server_extensions.formgrader.base import BaseApiHandler, check_notebook_dir, check_xsrf
from tornado import web

AUTOGRADE_URL = r"/formgrader/api/submission/([^/]+)/([^/]+)/autograde"
# A graded submission, and one held for review, are a success for the button; the log says which.
DONE = ("graded", "review", "skipped")


class SandboxedAutogradeHandler(BaseApiHandler):
    @web.authenticated
    @check_xsrf
    @check_notebook_dir
    async def post(self, assignment_id, student_id):
        self.write(json.dumps(await autograde(Path(self.coursedir.root), assignment_id, student_id)))


async def autograde(course, assignment, student):
    """Grade one submission with ``python -m dlcourse autograde``; return the
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


def _jupyter_server_extension_points():
    return [{"module": "dlcourse.host.formgrader"}]


def _load_jupyter_server_extension(server_app):
    web_app = server_app.web_app
    route = url_path_join(web_app.settings["base_url"], AUTOGRADE_URL)
    web_app.add_handlers(".*$", [(route, SandboxedAutogradeHandler)])
