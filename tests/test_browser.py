"""The student's and the instructor's flow in the course's real JupyterLab,
driven in headless Chromium (Debian's ``chromium``, through Playwright).

Two JupyterLab servers share a private nbgrader exchange: the student's runs
in a freshly built student edition, the instructor's in a copy of this
course with assignment 1 released. Each step saves a screenshot and its time
under build/browser/ (steps.json lists them).

    make test-browser        (make test runs these too)
"""

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

import pytest
import nbformat
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from conftest import ROOT, free_port
from dlcourse import jupyter
from dlcourse.datasets import files
from dlcourse.host.term import edition, instructor
from dlcourse.host.course import Course
from dlcourse.host.nbgrader_process import nbgrader_environment
from browsing import (NOTEBOOK, Steps, cells, close_dialog, dialog_text, is_dirty, launched, menu, open_notebook,
                      run_all_and_wait, save, set_source, validate_button)
from submissions import html_attacks, max_scores, new_course, open_gradebook, solution_code

pytestmark = [pytest.mark.slow, pytest.mark.browser]

A1 = "a1_layers_units"
SHOTS = ROOT / "build" / "browser"
TOKEN = "browser-test"
STEPS = Steps(SHOTS)


@contextmanager
def jupyterlab(root, env):
    """Start JupyterLab in ``root``; yield its base URL; stop it."""
    port = free_port()
    log = open(root.parent / f"lab-{root.name}.log", "w")
    argv = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", f"--IdentityProvider.token={TOKEN}",
            "--LabApp.expose_app_in_browser=True", "--ServerApp.ip=127.0.0.1"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    server = subprocess.Popen(argv, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                assert server.poll() is None, f"JupyterLab exited: see {log.name}"
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """Folders and environment shared by both servers: a private exchange,
    nbgrader's config pointing at it, and fresh JupyterLab settings."""
    base = tmp_path_factory.mktemp("browser")
    exchange, config = base / "exchange", base / "config"
    exchange.mkdir()
    config.mkdir()
    (config / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n")
    env = nbgrader_environment()
    env[files.DATA_DIR_VARIABLE] = str(files.data_dir())  # the student's folder lies elsewhere
    # nbgrader's record of submissions lives in Jupyter's data folder: a fresh one, too.
    env.update(JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(base / "data"),
               JUPYTERLAB_SETTINGS_DIR=str(base / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "lab-workspaces"))
    course = new_course(base / "course")
    released = subprocess.run([sys.executable, "-m", "nbgrader", "release_assignment", A1], cwd=course, env=env,
                              capture_output=True, text=True)
    assert released.returncode == 0, released.stderr
    student = edition.publish(ROOT, base / "student")
    SHOTS.mkdir(parents=True, exist_ok=True)
    return {"env": env, "course": course, "student": student, "exchange": exchange}


@pytest.fixture(scope="module")
def browser():
    with launched() as browser:
        yield browser
    STEPS.save()


def open_lab(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.goto(f"{url}/lab?token={TOKEN}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=60_000)
    return page, console


def version_warnings(console):
    return [m for m in console if "satisf" in m.lower() and "version" in m.lower()]


def test_a_student_runs_a_lecture_and_does_an_assignment(setting, browser):
    with jupyterlab(setting["student"], setting["env"]) as url:
        page, console = open_lab(browser, url)
        with STEPS.step(page, "student-opens-jupyterlab"):
            page.wait_for_timeout(3000)
            assert not version_warnings(console), f"extension version warnings: {version_warnings(console)}"
            assert page.locator(".jp-Notification-Toast, .Toastify__toast").count() == 0, "a pop-up greets the student"

        with STEPS.step(page, "student-opens-a-lecture"):
            open_notebook(page, "lectures/01_mnist.ipynb")
            page.wait_for_timeout(2000)
            assert page.evaluate(f"() => {NOTEBOOK}.sessionContext.session.kernel.name") == jupyter.KERNEL_NAME
            assert not is_dirty(page), "the lecture shows as modified right after opening it"

        with STEPS.step(page, "student-runs-the-lecture-in-fast-mode"):
            parameters = next(i for i, c in enumerate(cells(page)) if "parameters" in c["tags"])
            set_source(page, parameters, "FAST = True")
            run_all_and_wait(page, 600_000)
            found = cells(page)
            outputs = [o for c in found for o in c["outputs"]]
            errors = [o for o in outputs if o.get("output_type") == "error"]
            stderr = [o for o in outputs if o.get("name") == "stderr"]
            assert not errors, f"the lecture raised: {[e.get('ename') for e in errors]}"
            assert not stderr, f"stderr reached the lecture: {[o.get('text', '')[:200] for o in stderr]}"
            assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2, "the lecture's plots are missing"
            page.locator(".jp-OutputArea-output img").first.scroll_into_view_if_needed()

        with STEPS.step(page, "student-fetches-assignment-1"):
            menu(page, "Nbgrader", "Assignment List")
            page.locator("#released_assignments_list button", has_text="Fetch").click()
            page.locator("#fetched_assignments_list").get_by_text(A1).first.wait_for(timeout=60_000)
        notebook = f"{A1}/{A1}.ipynb"
        assert (setting["student"] / notebook).is_file(), "Fetch did not write the assignment into the student's folder"

        with STEPS.step(page, "student-validates-the-unsolved-version"):
            open_notebook(page, notebook)
            validate_button(page).click()
            text = dialog_text(page, 300_000)
            assert "NotImplementedError" in text or "failed" in text.lower(), f"Validate did not list failures:\n{text}"
        close_dialog(page)

        with STEPS.step(page, "student-fills-in-the-solution-and-validates"):
            answers = solution_code(A1)
            for index, cell in enumerate(cells(page)):
                if cell["nbgrader"] in answers:
                    set_source(page, index, answers[cell["nbgrader"]])
                elif cell["nbgrader"] == "written_answer":
                    set_source(page, index, "Deeper and wider networks fit the training set sooner and overfit sooner.")
            save(page)
            validate_button(page).click()
            text = dialog_text(page, 600_000)
            assert "Success! Your notebook passes all the tests." in text, f"Validate did not pass:\n{text}"
        close_dialog(page)

        with STEPS.step(page, "student-submits"):
            page.evaluate("() => window.jupyterapp.shell.activateById(window.jupyterapp.shell.widgets('main')"
                          ".find(w => w.title.label.includes('Assignments')).id)")
            page.locator("#fetched_assignments_list button", has_text="Submit").first.click()
            page.locator("#submitted_assignments_list").get_by_text(A1).first.wait_for(timeout=60_000)
        inbound = setting["exchange"] / "keras-ffnn" / "inbound"
        assert any(inbound.glob(f"*+{A1}+*")), "Submit put nothing into the exchange"
        page.close()


def test_the_instructor_collects_and_autogrades_in_the_formgrader(setting, browser):
    course = setting["course"]
    inbound = setting["exchange"] / "keras-ffnn" / "inbound"
    assert any(inbound.glob(f"*+{A1}+*")), "nothing was submitted: run the student's test first (it submits assignment 1)"
    with jupyterlab(course, setting["env"]) as url:
        page, console = open_lab(browser, url)
        with STEPS.step(page, "instructor-opens-the-formgrader"):
            menu(page, "Nbgrader", "Formgrader")
            grader = page.frame_locator("iframe").first
            rows = grader.locator("#main_table tbody tr, table tbody tr")
            rows.first.wait_for(timeout=60_000)
            dates = instructor.due_dates(course)
            for assignment in Course.at(course).assignments():
                row = rows.filter(has_text=assignment)
                assert dates[assignment].replace(" UTC", "") in row.inner_text(), f"{assignment}: due date missing"

        with STEPS.step(page, "instructor-sees-points-in-manual-grading"):
            grader.get_by_text("Manual Grading").click()
            with open_gradebook(course) as gradebook:
                totals = {a.name: a.max_score for a in gradebook.assignments}
            for assignment in Course.at(course).assignments():
                assert totals[assignment] > 0, f"{assignment} has no points in the gradebook"
                # Wait for the row with its points: until the page has changed, the rows are Manage
                # Assignments' (the same names, no points), and reading one at once can read those.
                row = grader.locator("table tbody tr", has_text=assignment)
                points = f"/ {totals[assignment]:g}"
                try:
                    row.filter(has_text=points).first.wait_for(timeout=60_000)
                except PlaywrightTimeout:
                    pytest.fail(f"{assignment}: Manual Grading shows no '{points}' in 60 s: {row.all_inner_texts()}")

        with STEPS.step(page, "instructor-collects"):
            grader.get_by_text("Manage Assignments").click()
            row = grader.locator("table tbody tr", has_text=A1)
            row.locator(".collect a").click()
            grader.locator(".modal-dialog").wait_for(timeout=120_000)
            grader.locator(".modal-footer button").first.click()
            row.locator(".num-submissions a", has_text="1").wait_for(timeout=60_000)

        with STEPS.step(page, "instructor-autogrades"):
            row.locator(".num-submissions a").click()
            student = grader.locator("table tbody tr").first
            student.locator(".autograde a").click()
            student.locator(".score", has_text="/").wait_for(timeout=600_000)
            message = grader.locator(".modal-dialog")
            assert "Successfully autograded" in message.inner_text(), message.inner_text()[:500]
            grader.locator(".modal-footer button").first.click()
            message.wait_for(state="detached")

        with STEPS.step(page, "instructor-sees-the-score"):
            score = student.locator(".score").inner_text()
            earned = float(score.split("/")[0])
            autograded = sum(max_scores(course, A1).values())  # the written answer waits for a hand grade
            assert earned == autograded, f"the solved submission scored {score}, expected {autograded:g} autograded points"
        assert not refusals(console), f"the policy refused the formgrader's own code: {refusals(console)}"
        page.close()


def refusals(console):
    """The browser's Content-Security-Policy refusals among ``console``'s messages."""
    return [m for m in console if "Content Security Policy" in m]


def test_the_formgrader_and_feedback_run_only_their_own_scripts(setting, browser):
    """Defense in depth behind the trusted merge: a graded copy that still
    held every kind of student script (as if the merge had missed them) is
    opened in the formgrader and as feedback, and none of it runs, while the
    pages' own scripts all do (dlcourse/host/extensions/script_policy.py)."""
    course = setting["course"]
    with open_gradebook(course) as gradebook:
        assert gradebook.assignment_submissions(A1), "nothing was graded: run the instructor's test first"
        submission = gradebook.assignment_submissions(A1)[0]
        student, notebook_id = submission.student.id, submission.notebooks[0].id
    graded = course / "autograded" / student / A1 / f"{A1}.ipynb"
    with jupyterlab(course, setting["env"]) as url:
        page, console = open_lab(browser, url)   # logged in: the formgrader's own requests are answered
        submission_url = f"{url}/formgrader/submissions/{notebook_id}/"
        with STEPS.step(page, "the-formgraders-own-scripts-run"):
            page.goto(submission_url)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("() => typeof toggle_name === 'function' && submission_id.length > 0")
            try:   # the autograded scores, which formgrade.js fetches and shows as placeholders
                page.wait_for_function("() => [...document.querySelectorAll('input.score')].some(i => i.placeholder)",
                                       timeout=30_000)
            except PlaywrightTimeout:
                pytest.fail(f"the formgrader's script filled in no score: {refusals(console)}")
            page.locator(".glyphicon.name-hidden").click()   # its onclick handler, allowed by its hash
            page.locator("a.name-shown").wait_for(state="visible", timeout=10_000)
            assert not refusals(console), f"the policy refused the formgrader's own code: {refusals(console)}"

        notebook = nbformat.read(graded, as_version=4)
        notebook.cells += list(html_attacks().values())
        nbformat.write(notebook, graded)
        with open_gradebook(course) as gradebook:   # a name the page prints: from an LMS, say
            gradebook.update_or_create_student(student, last_name="<img src=x onerror=window.pwned=1>",
                                               first_name="<script>window.pwned=1</script>")
        with STEPS.step(page, "a-missed-script-does-not-run-in-the-formgrader"):
            page.goto(submission_url)
            page.wait_for_load_state("networkidle")
            page.locator("b", has_text="hover").hover()
            assert page.evaluate("() => window.pwned") is None, "a student's script ran in the formgrader"
            assert refusals(console), "no script was refused: were the attacks in the page?"
            assert "Deeper nets overfit." in page.inner_text("body"), "the student's text no longer shows"
        for address in ("manage_students/%3Cscript%3Ex%3C%2Fscript%3E/", "gradebook/a1%22%3B%20x%3D%22/"):
            answer = page.request.get(f"{url}/formgrader/{address}")
            assert answer.status == 404, f"{address}: {answer.status}, not refused"
        answer = page.request.get(f"{url}/formgrader/api/student/{student}")
        assert answer.headers["content-type"].startswith("text/plain"), answer.headers
        assert "default-src 'none'" in answer.headers["content-security-policy"], answer.headers
        # A folder a student controls, named in ?path=: nbgrader would run its nbgrader_config.py.
        planted = setting["exchange"].parent / "planted"
        planted.mkdir()
        (planted / "nbgrader_config.py").write_text(f"open({str(planted / 'ran')!r}, 'w').close()\n")
        answer = page.request.get(f"{url}/formgrader/?path={planted}", max_redirects=0)
        assert answer.status == 400 and not (planted / "ran").exists(), \
            f"?path= ran a student's nbgrader_config.py: {answer.status}"

        generated = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", A1, "--student", student,
                                    "--force"], cwd=course, env=setting["env"], capture_output=True, text=True)
        assert generated.returncode == 0, generated.stdout + generated.stderr
        page.close()
        feedback, console = browser.new_page(), []   # as a student opens it, in a tab of its own
        feedback.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        with STEPS.step(feedback, "a-missed-script-does-not-run-in-feedback"):
            feedback.goto(f"{url}/files/feedback/{student}/{A1}/{A1}.html?token={TOKEN}")
            feedback.wait_for_load_state("networkidle")
            feedback.locator("b", has_text="hover").hover()
            assert feedback.evaluate("() => window.pwned") is None, "a student's script ran in the feedback"
            assert refusals(console), "no script was refused: were the attacks in the feedback?"
            assert "Deeper nets overfit." in feedback.inner_text("body"), "the student's text no longer shows"
        feedback.close()
