"""The Content-Security-Policy of pages that show student work
(dlcourse/host/extensions/script_policy.py): only the template's own scripts are
allowed, never one a student's cell adds. tests/test_browser.py checks the
same pages in Chromium."""

import os
import re

import nbformat
import nbgrader
from nbformat.v4 import new_markdown_cell, new_notebook

from dlcourse.host.extensions import script_policy
from dlcourse.host.extensions.feedback import InertFeedbackExporter
from submissions import html_attacks

PAGE = """<!DOCTYPE html><html><head><script>var a = "1 &amp; 2";</script>
<script src="/static/x.js"></script><script type="application/json">{"b": 1}</script></head>
<body><span onclick="go(true);">x</span><script type="module">go()</script></body></html>"""
TEMPLATES = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates")
BOOTSTRAP = os.path.join(os.path.dirname(TEMPLATES), "static", "node_modules", "bootstrap", "dist", "css")


def allowed_scripts(policy):
    """The hashes a policy's script-src allows."""
    return set(re.findall(r"'sha256-[^']+'", re.search(r"script-src ([^;]*)", policy).group(1)))


def test_the_pages_own_inline_code_is_found_as_the_browser_hashes_it():
    scripts, handlers = script_policy.inline_code(PAGE)
    assert scripts == ['var a = "1 &amp; 2";', "go()"], "a script's text is hashed raw; src and data blocks are not run"
    assert handlers == ["go(true);"]
    policy = script_policy.policy(PAGE, ["example.org/static/"])
    assert "script-src example.org/static/ " in policy and "'unsafe-hashes'" in policy
    assert allowed_scripts(policy) == {script_policy.hash_source(t) for t in scripts + handlers}
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]


def test_a_page_without_handlers_or_scripts_allows_none():
    policy = script_policy.policy("<html><head></head><body>x</body></html>", frame_ancestors=None)
    assert "script-src 'none'" in policy and "unsafe-hashes" not in policy and "frame-ancestors" not in policy


def test_the_bare_notebook_keeps_nothing_of_the_students():
    kernel = {"name": "python3", "display_name": "Python 3"}
    notebook = new_notebook(cells=[new_markdown_cell("x")],
                            metadata={"kernelspec": kernel, "widgets": {"text/javascript": "1"}})
    bare = script_policy.bare_notebook(nbformat.from_dict(notebook))
    assert bare.cells == [] and dict(bare.metadata) == {"kernelspec": kernel}


def test_feedback_allows_none_of_a_students_scripts():
    exporter = InertFeedbackExporter(template_name="feedback", extra_template_basedirs=[TEMPLATES],
                                     extra_template_paths=[BOOTSTRAP])
    notebook = nbformat.from_dict(new_notebook(cells=list(html_attacks().values())))
    resources = {"nbgrader": {"notebook": "a1", "score": 1, "max_score": 2, "late_penalty": 0}}
    html, _ = exporter.from_notebook_node(notebook, resources)
    head = html[html.index("<head"):]
    meta = re.match(r'<head>\s*<meta http-equiv="Content-Security-Policy" content="([^"]*)">', head)
    assert meta, "the policy is not first in the feedback's <head>"
    scripts, handlers = script_policy.inline_code(html)
    assert scripts and handlers, "the attacks are not in the page: the test would prove nothing"
    assert not allowed_scripts(meta.group(1)) & {script_policy.hash_source(t) for t in scripts + handlers}
    assert "javascript:" not in meta.group(1) and "'unsafe-inline'" not in meta.group(1).split("style-src")[0]
