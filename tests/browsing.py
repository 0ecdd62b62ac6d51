"""What the browser tests share: Debian's Chromium through Playwright, a
record of steps with a screenshot each, and JupyterLab seen from the page
(the tests start JupyterLab with ``expose_app_in_browser``, so that
``window.jupyterapp`` is there to read)."""

import json
import shutil
import time
from contextlib import contextmanager

import pytest

from conftest import ROOT


def chromium():
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Chromium is not installed. Fix: make browser-tools (apt-get install chromium, as root).")
    return path


def menu(page, *labels):
    page.locator(".lm-MenuBar-itemLabel", has_text=labels[0]).click()
    for label in labels[1:]:
        page.locator(".lm-Menu-itemLabel", has_text=label).first.click()


def open_notebook(page, path):
    page.wait_for_function("() => window.jupyterapp.commands.hasCommand('docmanager:open')", timeout=120_000)
    page.evaluate("path => window.jupyterapp.commands.execute('docmanager:open', {path})", path)
    page.wait_for_function(
        """path => { const w = window.jupyterapp.shell.currentWidget;
                     return w && w.context && w.context.path === path && w.sessionContext.session
                            && w.sessionContext.session.kernel && w.sessionContext.session.kernel.status === 'idle'; }""",
        arg=path, timeout=120_000)


NOTEBOOK = "window.jupyterapp.shell.currentWidget"
CELLS = f"""() => {NOTEBOOK}.content.model.sharedModel.cells.map(c => ({{
    type: c.cell_type, source: c.getSource(), count: c.cell_type === 'code' ? c.execution_count : null,
    nbgrader: (c.getMetadata().nbgrader || {{}}).grade_id || null, tags: c.getMetadata().tags || [],
    outputs: c.cell_type === 'code' ? c.getOutputs() : [] }}))"""


def cells(page):
    return page.evaluate(CELLS)


def set_source(page, index, source):
    page.evaluate(f"([i, s]) => {NOTEBOOK}.content.model.sharedModel.cells[i].setSource(s)", [index, source])


def save(page):
    page.evaluate(f"() => {NOTEBOOK}.context.save()")


def is_dirty(page):
    return page.evaluate(f"() => {NOTEBOOK}.context.model.dirty")


def run_all_and_wait(page, timeout_ms):
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(
        f"""() => {{ const w = {NOTEBOOK};
                    const code = w.content.model.sharedModel.cells.filter(c => c.cell_type === 'code');
                    return w.sessionContext.session.kernel.status === 'idle'
                           && code.every(c => c.execution_count !== null); }}""", timeout=timeout_ms)


def validate_button(page):
    """nbgrader's Validate button in the toolbar of the notebook in front."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar").get_by_text("Validate", exact=True)


def dialog_text(page, timeout_ms):
    dialog = page.locator(".jp-Dialog-content")
    dialog.wait_for(timeout=timeout_ms)
    return dialog.inner_text()


def close_dialog(page):
    page.locator(".jp-Dialog-button.jp-mod-accept, .jp-Dialog-button").last.click()
    page.locator(".jp-Dialog-content").wait_for(state="detached")


class Steps:
    """Each step's time and screenshot, saved into ``folder`` (steps.json lists them)."""

    def __init__(self, folder):
        self.folder, self.steps = folder, []

    @contextmanager
    def step(self, page, name):
        """Time one step and save a screenshot at its end."""
        started = time.monotonic()
        yield
        seconds = round(time.monotonic() - started, 1)
        self.folder.mkdir(parents=True, exist_ok=True)
        shot = self.folder / f"{len(self.steps) + 1:02d}-{name}.png"
        page.screenshot(path=str(shot))
        self.steps.append({"step": name, "seconds": seconds, "screenshot": str(shot.relative_to(ROOT))})

    def save(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "steps.json").write_text(json.dumps(self.steps, indent=1))


@contextmanager
def launched():
    """Yield Debian's Chromium, headless, through Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield browser
        browser.close()
