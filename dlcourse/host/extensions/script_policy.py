"""Host side: a Content-Security-Policy for every page that shows student
work, as defense in depth behind the trusted merge (:mod:`.inert`).

The merge removes a student's script from the graded copy. If it ever
missed one, the policy still keeps it from running: a page may run only

- the scripts its template itself holds (inline ``<script>`` elements and
  event handlers, allowed by their SHA-256 hashes), and
- scripts from the few folders given (the formgrader's own static files,
  MathJax's CDN folder),

never a script a student's cell or output adds, an event handler of theirs,
a ``javascript:`` URL, ``eval``, a plug-in or a form sent elsewhere.

Which scripts are the template's is learned by rendering the same page once
more without anything of the student's (:func:`bare_notebook`): no cells,
and of the notebook's metadata only the kernel's and the language's. What
the template adds is then in both renders, and what the student adds is only
in theirs.
"""

import base64
import copy
import hashlib
import re
from html.parser import HTMLParser

import nbformat

# <script type="..."> values a browser runs; any other type is a data block.
SCRIPT_TYPES = {"", "text/javascript", "application/javascript", "application/ecmascript", "text/ecmascript",
                "module", "text/jscript"}
# What the bare render keeps of the notebook's metadata (it chooses the code's highlighting).
KEPT_METADATA = ("kernelspec", "language_info")
NONE, SELF = "'none'", "'self'"
HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)


class _InlineCode(HTMLParser):
    """Collect a page's inline scripts and event-handler attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts, self.handlers, self._inside = [], [], None

    def handle_starttag(self, tag, attrs):
        self.handlers += [value or "" for name, value in attrs if name.startswith("on")]
        if tag == "script":
            found = dict(attrs)
            runs = (found.get("type") or "").strip().lower() in SCRIPT_TYPES and "src" not in found
            self._inside = [] if runs else None

    def handle_data(self, data):
        if self._inside is not None:
            self._inside.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._inside is not None:
            self.scripts.append("".join(self._inside))
            self._inside = None


def inline_code(html):
    """Return (scripts, handlers): the texts of ``html``'s inline scripts that
    a browser runs and of its event-handler attributes, in page order."""
    parser = _InlineCode()
    parser.feed(html)
    parser.close()
    return parser.scripts, parser.handlers


def hash_source(text):
    """Return the CSP source expression that allows exactly ``text``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def policy(trusted_html, script_folders=(), files=(SELF,), connect=(SELF,), report_uri=None,
           frame_ancestors=SELF):
    """Return a Content-Security-Policy that runs only ``trusted_html``'s
    own inline scripts and handlers (by hash) and scripts under
    ``script_folders`` (host-source expressions); styles, images and fonts
    from ``files`` (or inline: styles, and images and fonts as data: URLs);
    requests from script to ``connect``; no plug-ins, forms to elsewhere or
    ``<base>``. In a ``<meta>`` tag, pass ``frame_ancestors=None`` and
    ``report_uri=None`` (browsers ignore them there)."""
    scripts, handlers = inline_code(trusted_html)
    sources = list(dict.fromkeys(script_folders)) + list(dict.fromkeys(map(hash_source, scripts + handlers)))
    if handlers:
        sources.append("'unsafe-hashes'")
    files = " ".join(files)
    parts = ["default-src 'none'", f"script-src {' '.join(sources) or NONE}",
             f"style-src {files} 'unsafe-inline'", f"img-src {files} data:", f"font-src {files} data:",
             f"connect-src {' '.join(connect) or NONE}", "object-src 'none'", "base-uri 'none'",
             "form-action 'self'"]
    if frame_ancestors:
        parts.append(f"frame-ancestors {frame_ancestors}")
    if report_uri:
        parts.append(f"report-uri {report_uri}")
    return "; ".join(parts)


def with_meta_policy(html, content):
    """Return ``html`` with a ``<meta http-equiv="Content-Security-Policy">``
    of ``content`` first in its ``<head>`` (before any script); raise
    ValueError if it has no ``<head>``."""
    head = HEAD.search(html)
    if not head:
        raise ValueError("the page has no <head> to hold its Content-Security-Policy")
    meta = f'\n<meta http-equiv="Content-Security-Policy" content="{content}">'
    return html[:head.end()] + meta + html[head.end():]


def bare_notebook(notebook):
    """Return a copy of ``notebook`` with nothing of the student's: no cells,
    and of its metadata only :data:`KEPT_METADATA`."""
    metadata = {key: copy.deepcopy(notebook.metadata[key]) for key in KEPT_METADATA if key in notebook.metadata}
    return nbformat.v4.new_notebook(metadata=metadata)


def bare_render(exporter, notebook, resources):
    """Return the HTML ``exporter`` makes of :func:`bare_notebook` of
    ``notebook`` with (a copy of) ``resources``: the template's own page."""
    html, _ = exporter.from_notebook_node(bare_notebook(notebook), resources=copy.deepcopy(resources))
    return html
