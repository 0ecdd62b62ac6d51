"""Host side: student-made HTML made inert before anyone opens a graded notebook.

A student controls every cell and output of the notebook they submit. The
formgrader renders markdown answer cells without sanitizing them (its
``formgrade`` template), feedback and JupyterLab render the graded copy, and
the staff who open it have a Jupyter server that can read the hidden tests
and write the gradebook. So the trusted merge passes every graded notebook
through :func:`make_inert` before writing it:

- markdown and raw cells are rendered to HTML (nbconvert's ``markdown2html``)
  and cleaned by ammonia (``nh3``) to an allow-list of tags, attributes and
  URL schemes (:data:`TAGS`, :data:`ATTRIBUTES`, :data:`URL_SCHEMES`); the
  cell keeps that clean HTML as its source, which renders the same as the
  student's markdown without any script, event handler, ``javascript:`` URL,
  frame, form or style;
- ``text/html`` and ``text/markdown`` outputs are cleaned the same way;
  outputs of any other kind but :data:`KEPT_OUTPUTS` (JavaScript, widgets,
  SVG, which can hold script) are removed, and an output left with nothing
  says what was removed;
- cell attachments other than images are removed, and so are the
  notebook's widget states (a widget then shows nothing).

Every cell is cleaned whatever it holds, so nothing depends on recognising an
attack. What was active is also reported (:func:`make_inert` returns the
reasons), and the merge holds such a submission for review. The student's
submitted notebook itself is never changed.
"""

import base64
import json
import re

import nh3
from nbconvert.filters.markdown_mistune import IPythonRenderer, InvalidNotebook, MarkdownWithMath

# What staff and students may see of a student's HTML: formatted text, lists,
# tables, code, links and images.
TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2",
        "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
        "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul"}
ATTRIBUTES = {"*": {"class", "title", "lang", "dir"}, "a": {"href"}, "img": {"src", "alt", "width", "height"},
              "td": {"colspan", "rowspan", "align"}, "th": {"colspan", "rowspan", "align", "scope"},
              "ol": {"start", "type"}}
# Relative links stay (they open the submission's own files, which the
# formgrader serves inert: dlcourse.host.extensions.formgrader). A data: URL is kept
# only as an image's source, and only for IMAGE_DATA (a cell's attachments
# are rendered as such).
URL_SCHEMES = {"http", "https", "mailto", "data"}
IMAGE_DATA = re.compile(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*\Z")
KEPT_OUTPUTS = {"text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg", "image/gif",
                "application/json"}
CLEANED_OUTPUTS = {"text/html", "text/markdown"}
KEPT_ATTACHMENTS = {"image/png", "image/jpeg", "image/gif"}
# Reported when seen: what runs script or takes over a page (a style sheet,
# which pandas's tables carry, is removed without a report). The cleaning
# above does not depend on this list.
ACTIVE = re.compile(r"<\s*(script|iframe|frame|frameset|object|embed|applet|base|meta|link|form|svg)\b"
                    r"|\bon[a-z]+\s*=|\b(?:java|vb)script\s*:|\bsrcdoc\s*=|\bdata\s*:\s*text/html", re.IGNORECASE)
# A removed output is reported when it is script, or holds script. Widgets
# (a progress bar's, say) and their state are removed without a report: honest
# notebooks carry them, and without the state a widget shows nothing.
SCRIPT_OUTPUTS = re.compile(r"javascript|ecmascript", re.IGNORECASE)
SCRIPTED = re.compile(r"<\s*script\b|\bon[a-z]+\s*=|\b(?:java|vb)script\s*:", re.IGNORECASE)


def clean_html(html):
    """Return ``html`` with everything outside the allow-lists removed
    (script and style elements with their content)."""
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
                     attribute_filter=_only_image_data, clean_content_tags={"script", "style"}, strip_comments=True)


def _only_image_data(element, attribute, value):
    """nh3's attribute filter: drop a data: URL unless it is an image's source of IMAGE_DATA."""
    if value.strip().lower().startswith("data:"):
        return value if (element, attribute) == ("img", "src") and IMAGE_DATA.match(value.strip()) else None
    return value


def clean_markdown(markdown, attachments=None):
    """Return the inert HTML that ``markdown`` renders to, its
    ``attachments`` ({name: {mime: base64}}) embedded as images."""
    renderer = IPythonRenderer(escape=False, exclude_anchor_links=True, attachments=attachments or {})
    try:
        html = MarkdownWithMath(renderer=renderer).render(markdown)
    except InvalidNotebook:   # an image of a missing attachment: the text, as text
        html = f"<pre>{nh3.escape(markdown)}</pre>"
    return clean_html(html)


def active_parts(text):
    """Return the distinct active pieces found in ``text`` (lower case, as written), for a report."""
    return sorted({match.group(0).lower().replace(" ", "") for match in ACTIVE.finditer(text)})


def make_inert(notebook):
    """Clean ``notebook`` in place (see the module's docstring); return a
    reason for each cell or output that held something active."""
    reasons = []
    if SCRIPTED.search(json.dumps(notebook.metadata.pop("widgets", None))):
        reasons.append("the notebook's widget state held script (removed)")
    for number, cell in enumerate(notebook.cells, start=1):
        found = active_parts(cell.source) if cell.cell_type != "code" else []
        dropped = _clean_attachments(cell) + (_clean_outputs(cell) if cell.cell_type == "code" else [])
        if cell.cell_type in ("markdown", "raw"):
            cell.source = clean_markdown(cell.source, cell.get("attachments"))
        if found or dropped:
            what = ", ".join([*found, *dropped])
            reasons.append(f"cell {number} held active content ({what}): removed in the graded copy")
    return reasons


def _clean_attachments(cell):
    """Remove a cell's attachments of kinds other than images; return those
    that were script or held script (the others go without a report, as outputs do)."""
    dropped = []
    for name, bundle in list(cell.get("attachments", {}).items()):
        for mime in [m for m in bundle if m not in KEPT_ATTACHMENTS]:
            content = base64.b64decode(bundle.pop(mime), validate=False).decode(errors="replace")
            if SCRIPT_OUTPUTS.search(mime) or SCRIPTED.search(content):
                dropped.append(f"attachment {name} as {mime}")
        if not bundle:
            del cell.attachments[name]
    return dropped


def _clean_outputs(cell):
    """Clean a code cell's rich outputs; return what was active in them."""
    found = []
    for output in cell.get("outputs", []):
        data = output.get("data")
        if data is None:
            continue
        for mime in list(data):
            if mime not in KEPT_OUTPUTS:
                removed = data.pop(mime)
                if SCRIPT_OUTPUTS.search(mime) or SCRIPTED.search(json.dumps(removed)):
                    found.append(f"a {mime} output")
            elif mime in CLEANED_OUTPUTS:
                text = data[mime] if isinstance(data[mime], str) else "".join(data[mime])
                found += [f"{part} in a {mime} output" for part in active_parts(text)]
                data[mime] = clean_markdown(text) if mime == "text/markdown" else clean_html(text)
        if not data:
            data["text/plain"] = "[an output that could run script in the reader's browser was removed]"
    return found
