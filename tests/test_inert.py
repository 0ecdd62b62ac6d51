"""Student-made HTML is inert in the graded copy (dlcourse/host/grading/inert.py):
every road a student's script could take into a page is cleaned, what a
student legitimately shows stays, and each active piece is reported."""

import json

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from dlcourse.host.grading import inert
from submissions import html_attacks

WHAT_RUNS = ("<script", "onerror", "onload", "onmouseover", "javascript:", "<iframe", "srcdoc", "<svg", "<form",
             "formaction", "application/javascript", "widget-view")


def test_every_attack_is_removed_and_reported():
    attacks = html_attacks()
    notebook = new_notebook(cells=list(attacks.values()))
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"m": {"state": {
        "value": "<img src=x onerror=window.pwned=1>"}}}}}
    attachment = new_markdown_cell("![plot](attachment:page.html)")
    attachment["attachments"] = {"page.html": {"text/html": "PHNjcmlwdD4="}}
    notebook.cells.append(attachment)

    reasons = inert.make_inert(notebook)

    text = json.dumps(notebook).lower()
    assert not [piece for piece in WHAT_RUNS if piece in text], [piece for piece in WHAT_RUNS if piece in text]
    reported = {int(r.split()[1]) for r in reasons if r.startswith("cell ")}
    assert reported == set(range(1, len(attacks) + 2)), f"cells not reported: {reasons}"
    assert "the notebook's widget state held script (removed)" in reasons
    assert "page.html" not in json.dumps(notebook.cells[-1].get("attachments", {}))
    assert "My answer." in notebook.cells[0].source, "the answer's text is lost"


def test_what_a_student_legitimately_shows_is_kept_and_not_reported():
    table = "| units | loss |\n|---|---|\n| 16 | 0.29 |"
    answer = (f"## Why\n\nA **wider** net with `x<y` fits sooner; see [Keras](https://keras.io).\n\n{table}\n\n"
              "![curve](attachment:curve.png)")
    cell = new_markdown_cell(answer)
    cell["attachments"] = {"curve.png": {"image/png": "iVBORw0KGgo="},
                           "sketch.svg": {"image/svg+xml": "PHN2Zz48Y2lyY2xlIHI9IjQiLz48L3N2Zz4="}}
    pandas_table = ('<div><style scoped>.dataframe tbody tr th {vertical-align: top;}</style>'
                    '<table border="1" class="dataframe"><thead><tr><th>units</th></tr></thead>'
                    '<tbody><tr><td>16</td></tr></tbody></table></div>')
    code = new_code_cell("history", outputs=[
        new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}),
        new_output("execute_result", data={"text/html": pandas_table, "text/plain": "   units\n0     16"},
                   execution_count=2),
        new_output("stream", name="stdout", text="Epoch 1/5 <loss 0.3>\n"),
        new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "bar"},
                                         "text/plain": "100%|##########| 5/5"})])
    notebook = new_notebook(cells=[cell, code])
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"bar": {"state": {
        "value": 5, "max": 5}}}}}

    assert inert.make_inert(notebook) == []

    html = notebook.cells[0].source
    assert "<h2>Why</h2>" in html and "<strong>wider</strong>" in html and "<code>x&lt;y</code>" in html
    assert '<a href="https://keras.io"' in html and "<td>16</td>" in html and 'src="data:image/png;base64,iVBORw0KGgo="' in html
    assert notebook.cells[0].attachments["curve.png"] == {"image/png": "iVBORw0KGgo="}
    outputs = notebook.cells[1].outputs
    assert outputs[0].data["image/png"] == "iVBORw0KGgo="
    assert "<td>16</td>" in outputs[1].data["text/html"] and "vertical-align" not in outputs[1].data["text/html"]
    assert outputs[2].text == "Epoch 1/5 <loss 0.3>\n", "a stream is text, never HTML: it must stay as printed"
    assert outputs[3].data == {"text/plain": "100%|##########| 5/5"}, "a progress bar keeps its text, not its widget"
    assert "widgets" not in notebook.metadata


def test_an_output_left_with_nothing_says_what_was_removed():
    notebook = nbformat.from_dict(new_notebook(cells=[html_attacks()["javascript output"]]))
    inert.make_inert(notebook)
    data = notebook.cells[0].outputs[0].data
    assert list(data) == ["text/plain"] and "removed" in data["text/plain"]
