"""A term on a real JupyterHub, end to end in headless Chromium.

The test makes a hub folder and a copy of the course under /srv, a roster
of one instructor and two students, and runs ``python -m dlcourse
hub-setup`` (what ``make hub`` runs): real Unix accounts and PAM passwords.
It starts JupyterHub with hub/jupyterhub_config.py and the proxy from npm
on 127.0.0.1, drives each person in their own browser session, then tries
every way a student might reach another's files as that student's Unix
user. Each browser step saves a screenshot under build/hub/ (steps.json
lists them, with times). Accounts, groups and folders are removed after.

Needs root (accounts, PAM): run by ``make test`` in CI, skipped otherwise.
"""

import csv
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from jupyterhub.traitlets import ByteSpecification
from nbgrader.utils import parse_utc

from conftest import ROOT, free_port
from test_limits import remove_parent
from dlcourse.datasets import files
from dlcourse.host.extensions import exchange, receipts
from dlcourse.host.term import edition, hub, instructor, limits
from dlcourse.host.course import Course
from dlcourse.host.nbgrader_process import nbgrader_environment
from dlcourse import jupyter, memory_notice
from submissions import hidden_test_lines, max_scores, open_gradebook, solution_code
from browsing import (NOTEBOOK, Steps, cells, close_dialog, dialog_text, launched, menu, open_notebook, save,
                      set_source, validate_button)

pytestmark = [pytest.mark.slow, pytest.mark.hub,
              pytest.mark.skipif(os.geteuid() != 0, reason="makes Unix accounts and logs in through PAM: needs root")]

A1 = "a1_layers_units"
SHOTS = ROOT / "build" / "hub"
STEPS = Steps(SHOTS)
INSTRUCTOR, TA, ANA, BEN, LATECOMER = "dlct-prof", "dlct-ta", "dlct-ana", "dlct-ben", "dlct-cy"
ROSTER = [(INSTRUCTOR, "Ada Lovelace", "", "instructor"), (TA, "Tim Berners", "", "ta"),
          (ANA, "Ana Lima", "20260001", "student"), (BEN, "Ben Okafor", "20260002", "student")]
LONGER_ROSTER = [*ROSTER, (LATECOMER, "Cy Young", "20260003", "student")]
NEVER_MADE = ["dlct-dee", "dlct-eve", "dlct-fay"]   # rows of a bad roster (removed all the same if made)
WRITTEN_ANSWER = "Deeper and wider networks fit the training set sooner and overfit sooner."


def write_roster(path, rows):
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([hub.ROSTER_COLUMNS, *rows])


# What root runs or trusts in a course, besides its dlcourse/ (test_a_ta_cannot_change_what_root_runs).
ROOTS_FILES = ("Makefile", "pyproject.toml", "nbgrader_config.py", "hub/jupyterhub_config.py")


def course_copy(path):
    """A course directory like the repository's: what the edition, grading
    and the hub need, and a git repository (its hooks are root's too)."""
    path.mkdir(parents=True)
    layout = Course.at(ROOT)
    for folder in (layout.lectures, layout.source(), layout.release(), ROOT / "dlcourse"):
        shutil.copytree(folder, path / folder.relative_to(ROOT), ignore=edition.leave_out(folder))
    for name in (*edition.COPIED_FILES, *ROOTS_FILES):
        (path / name).parent.mkdir(exist_ok=True)
        shutil.copy2(ROOT / name, path / name)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    instructor.release(path)
    return path


def hub_setup(course, roster, hub_dir):
    done = subprocess.run([sys.executable, "-m", "dlcourse", "hub-setup", "--course", str(course), "--roster",
                           str(roster), "--hub-dir", str(hub_dir)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def passwords(hub_dir):
    with open(Path(hub_dir) / "state" / hub.NEW_ACCOUNTS, newline="") as handle:
        return {row["username"]: row["password"] for row in csv.DictReader(handle)}


def wait_for(url, process, log, seconds=60):
    for _ in range(seconds * 2):
        try:
            return urllib.request.urlopen(url, timeout=2).read()
        except OSError:
            assert process.poll() is None, f"the hub exited: {log.read_text()[-3000:]}"
            time.sleep(0.5)
    raise AssertionError(f"the hub did not answer at {url}: {log.read_text()[-3000:]}")


def remove_people(names, groups_made):
    for name in names:
        subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
    time.sleep(1)
    for name in names:
        subprocess.run(["userdel", "--remove", name], capture_output=True)
    for group in groups_made:
        subprocess.run(["groupdel", group], capture_output=True)


@contextmanager
def passable(*paths):
    """Let other users pass through every folder on the way to ``paths`` (o+x,
    as on a course server) for the test's length; put the modes back after."""
    closed = {folder for path in paths for folder in Path(path).resolve().parents
              if not folder.stat().st_mode & 0o001}
    modes = {folder: folder.stat().st_mode & 0o7777 for folder in closed}
    try:
        for folder, mode in modes.items():
            os.chmod(folder, mode | 0o001)
        yield sorted(closed)
    finally:
        for folder, mode in modes.items():
            os.chmod(folder, mode)


@pytest.fixture(scope="module")
def term():
    """A running hub for the roster, in a clone wherever CI put it."""
    with passable(Path(sys.prefix) / "bin", ROOT / "dlcourse", files.data_dir() or files.SHARED_DATA_DIR):
        yield from running_hub()


def running_hub():
    """A running hub for the roster; yields its folders, URL and passwords."""
    people = [row[0] for row in LONGER_ROSTER] + NEVER_MADE
    taken = [n for n in people if n in {p.pw_name for p in pwd.getpwall()}]
    assert not taken, f"accounts {taken} exist already (a test run killed midway?). Fix: userdel -r them."
    accounts = {p.pw_name for p in pwd.getpwall()}
    # Made by the set-up: removed after, as the people are.
    people += [a for a in (receipts.ACCOUNT, hub.UNPRIVILEGED, hub.CULLER_ACCOUNT) if a not in accounts]
    groups_made = [g for g in (hub.STAFF_GROUP, hub.STUDENT_GROUP)
                   if subprocess.run(["getent", "group", g], capture_output=True).returncode != 0]
    parent_made = not (limits.CGROUP_ROOT / limits.CONTROLLERS[0] / limits.PARENT).exists()
    base = Path(tempfile.mkdtemp(prefix="dlcourse-hub-test-", dir="/srv" if Path("/srv").is_dir() else None))
    os.chmod(base, 0o755)  # students pass through to the course's environment
    process, log = None, base / "jupyterhub.log"
    try:
        course, hub_dir, roster = course_copy(base / "course"), base / "hub", base / "roster.csv"
        write_roster(roster, ROSTER)
        started = time.monotonic()
        hub_setup(course, roster, hub_dir)
        setup_seconds = time.monotonic() - started
        port = free_port()
        env = dict(nbgrader_environment(), DLCOURSE_COURSE=str(course), DLCOURSE_HUB_DIR=str(hub_dir),
                   DLCOURSE_ROSTER=str(roster), DLCOURSE_HUB_URL=f"http://127.0.0.1:{port}",
                   DLCOURSE_HUB_API_URL=f"http://127.0.0.1:{free_port()}",
                   DLCOURSE_PROXY_API_URL=f"http://127.0.0.1:{free_port()}")
        # The test reads JupyterLab's state through window.jupyterapp, as test_browser.py does.
        argv = [sys.executable, "-m", "jupyterhub", "-f", str(ROOT / "hub" / "jupyterhub_config.py"),
                "--Spawner.args=['--LabApp.expose_app_in_browser=True']"]
        process = subprocess.Popen(argv, cwd=base, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/hub/api", process, log)
        SHOTS.mkdir(parents=True, exist_ok=True)
        yield {"base": base, "course": course, "hub": hub.HubDir(hub_dir, Course.at(course).course_id),
               "roster": roster, "url": url, "passwords": passwords(hub_dir), "log": log,
               "setup_seconds": round(setup_seconds, 1)}
    finally:
        stray = None
        if process is not None:
            proxy = base / "hub" / "state" / "proxy.pid"
            proxy = int(proxy.read_text()) if proxy.exists() else None
            process.terminate()
            process.wait(timeout=30)
            SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, SHOTS / "jupyterhub.log")  # kept for a failed run
            time.sleep(1)
            if proxy and Path(f"/proc/{proxy}").exists():
                stray = proxy
                os.kill(proxy, 9)
        running = {name: pids for name in people
                   if (pids := [p for f in limits.group_folders(name) for p in limits.processes(f)])}
        for name in people:
            limits.remove_group(name)
        remove_people(people, groups_made)
        shutil.rmtree(base, ignore_errors=True)
        if parent_made:
            remove_parent()
        assert stray is None, f"the hub stopped, but its proxy (pid {stray}) ran on"
        assert not running, f"the hub stopped, but these processes ran on in people's groups: {running}"


@pytest.fixture(scope="module")
def browser(term):
    with launched() as browser:
        yield browser
    STEPS.save()


def log_in(browser, term, name):
    """Log ``name`` in through the hub's PAM form; return the page, in JupyterLab."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{term['url']}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", term["passwords"][name])
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{name}/lab**", timeout=120_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=120_000)
    return page


def menu_items(page, label):
    page.locator(".lm-MenuBar-itemLabel", has_text=label).click()
    items = page.locator(".lm-Menu-itemLabel").all_inner_texts()
    page.keyboard.press("Escape")
    return items


def formgrader(page):
    menu(page, "Nbgrader", "Formgrader")
    grader = page.frame_locator("iframe").first
    grader.locator("table tbody tr").first.wait_for(timeout=60_000)
    return grader


def confirm(grader, timeout_ms=120_000):
    """Close the formgrader's result dialog; return its text."""
    dialog = grader.locator(".modal-dialog")
    dialog.wait_for(timeout=timeout_ms)
    text = dialog.inner_text()
    grader.locator(".modal-footer button").first.click()
    dialog.wait_for(state="detached")
    return text


def assignments_tab(page):
    menu(page, "Nbgrader", "Assignment List")
    page.locator("#released_assignments_list, #fetched_assignments_list").first.wait_for(timeout=60_000)


def server_api(page, name, method, url, data=None):
    """Call ``name``'s Jupyter server from their browser session; return the JSON answer."""
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf" and name in c["path"])
    answer = page.request.fetch(url, method=method, headers={"X-XSRFToken": xsrf},
                                data=json.dumps(data) if data is not None else None)
    assert answer.ok, f"{method} {url}: {answer.status} {answer.text()[:500]}"
    return answer.json()


def as_user(name, code):
    """Run Python ``code`` as the Unix user ``name`` (its groups too); return its JSON output."""
    done = subprocess.run(["setpriv", "--reuid", name, "--regid", name, "--init-groups", "--reset-env",
                           sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# What ben's written answer and a page beside his notebook try when staff open them.
MARKER = "__dlct_pwned"
XSS_ANSWER = (f"{WRITTEN_ANSWER}\n\n<img src=\"x\" onerror=\"window.top.{MARKER} = 1; fetch('/{MARKER}')\">"
              f"<script>window.top.{MARKER} = 1; fetch('/{MARKER}')</script> [my plot](evil.html)")
EVIL_HTML = f"<html><body><script>window.top.{MARKER} = 1; fetch('/{MARKER}')</script>plot</body></html>"

HOSTILE_CELL = '''import json
try:
    source = json.load(open("{solution}"))
except OSError as error:
    print(error)
'''


def test_students_and_the_instructor_go_through_a_term(term, browser):
    course, url = term["course"], term["url"]
    prof = log_in(browser, term, INSTRUCTOR)
    with STEPS.step(prof, "instructor-releases-a1-in-the-formgrader"):
        grader = formgrader(prof)
        row = grader.locator("table tbody tr", has_text=A1)
        row.locator(".release a").click()
        confirm(grader)
        row.locator(".status", has_text="released").wait_for(timeout=60_000)

    students = {}
    for name in (ANA, BEN):
        page = students[name] = log_in(browser, term, name)
        with STEPS.step(page, f"{name}-sees-the-course-and-no-instructor-tools"):
            specs = page.request.get(f"{url}/user/{name}/api/kernelspecs").json()["kernelspecs"]
            assert "dlcourse" in specs, f"the course's kernel is missing: {sorted(specs)}"
            items = menu_items(page, "Nbgrader")
            assert "Assignment List" in items and "Formgrader" not in items, f"Nbgrader menu: {items}"
            assert page.locator(".jp-SideBar [title*='Create Assignment'], #create_assignment").count() == 0
            assert page.request.get(f"{url}/user/{name}/formgrader").status == 404, "the formgrader answers a student"
            listing = page.request.get(f"{url}/user/{name}/api/contents").json()["content"]
            assert {"lectures", "README.md"} <= {e["name"] for e in listing}, "the student edition is not in the home"
            assert "solutions" not in {e["name"] for e in listing}
        with STEPS.step(page, f"{name}-fetches-a1"):
            assignments_tab(page)
            page.locator("#released_assignments_list button", has_text="Fetch").click()
            page.locator("#fetched_assignments_list").get_by_text(A1).first.wait_for(timeout=60_000)

    ana = students[ANA]
    with STEPS.step(ana, "ana-solves-a1-and-validates"):
        open_notebook(ana, f"{A1}/{A1}.ipynb")
        answers = solution_code(A1)
        for index, cell in enumerate(cells(ana)):
            if cell["nbgrader"] in answers:
                set_source(ana, index, answers[cell["nbgrader"]])
            elif cell["nbgrader"] == "written_answer":
                set_source(ana, index, WRITTEN_ANSWER)
        save(ana)
        validate_button(ana).click()
        text = dialog_text(ana, 600_000)
        assert "Success! Your notebook passes all the tests." in text, f"Validate did not pass:\n{text}"
    close_dialog(ana)

    ben = students[BEN]
    with STEPS.step(ben, "ben-writes-a-hostile-solution"):
        open_notebook(ben, f"{A1}/{A1}.ipynb")
        answers = solution_code(A1)
        attack = HOSTILE_CELL.format(solution=Course.at(course).source(A1) / f"{A1}.ipynb")
        for index, cell in enumerate(cells(ben)):
            if cell["nbgrader"] in answers:
                first = index == next(i for i, c in enumerate(cells(ben)) if c["nbgrader"] in answers)
                set_source(ben, index, (attack if first else "") + answers[cell["nbgrader"]])
            elif cell["nbgrader"] == "written_answer":
                set_source(ben, index, XSS_ANSWER)
        save(ben)
        server_api(ben, BEN, "PUT", f"{url}/user/{BEN}/api/contents/{A1}/evil.html",
                   {"type": "file", "format": "text", "content": EVIL_HTML})

    for name, page in students.items():
        with STEPS.step(page, f"{name}-submits"):
            assignments_tab(page)
            page.locator("#fetched_assignments_list button", has_text="Submit").first.click()
            page.locator("#submitted_assignments_list").get_by_text(A1).first.wait_for(timeout=60_000)

    with STEPS.step(prof, "instructor-collects"):
        prof.reload()
        prof.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=120_000)
        grader = formgrader(prof)
        row = grader.locator("table tbody tr", has_text=A1)
        row.locator(".collect a").click()
        collected = confirm(grader)
        assert "error" not in collected.lower(), collected
        row.locator(".num-submissions a", has_text="2").wait_for(timeout=60_000)

    logs = {}
    with STEPS.step(prof, "instructor-autogrades-both-in-the-sandbox"):
        row.locator(".num-submissions a").click()
        for name in (ANA, BEN):
            student = grader.locator("table tbody tr", has_text=name)
            student.locator(".autograde a").click()
            logs[name] = confirm(grader, 900_000)
    assert "Successfully autograded" in logs[ANA], logs[ANA][:2000]
    assert "review" in logs[BEN] and "solutions" in logs[BEN], f"the hostile submission was not flagged:\n{logs[BEN]}"
    autograded = sum(max_scores(course, A1).values())
    with open_gradebook(course) as gradebook:
        assert gradebook.find_submission(A1, ANA).score == autograded, "ana's solution lost points"

    # ben's answer and his page beside the notebook, opened by the instructor: nothing of his runs.
    api = f"{url}/user/{INSTRUCTOR}/formgrader/api"
    view, requests = prof.context.new_page(), []
    view.on("request", lambda request: requests.append(request.url))
    with STEPS.step(view, "instructor-opens-bens-answer-and-nothing-of-his-runs"):
        notebook_id = server_api(prof, INSTRUCTOR, "GET", f"{api}/student_notebook_submissions/{BEN}/{A1}")[0]["id"]
        submission_url = f"{url}/user/{INSTRUCTOR}/formgrader/submissions/{notebook_id}"
        policy = view.goto(f"{submission_url}/").headers["content-security-policy"]
        assert "script-src" in policy and "'unsafe-inline'" not in policy.split("style-src")[0], policy
        view.wait_for_load_state("networkidle")
        assert WRITTEN_ANSWER in view.inner_text("body"), "ben's answer no longer shows"
        assert view.evaluate(f"() => window.{MARKER}") is None, "ben's script ran in the formgrader"
        page_beside = view.request.get(f"{submission_url}/evil.html")
        assert page_beside.ok, page_beside.status
        assert "sandbox" in page_beside.headers["content-security-policy"], page_beside.headers
        assert page_beside.headers.get("content-disposition") == "attachment", page_beside.headers
    assert not [r for r in requests if MARKER in r], f"ben's script sent requests: {requests}"
    view.close()

    with STEPS.step(prof, "instructor-grades-the-written-answer-by-hand"):
        # The formgrader's own API, from the instructor's logged-in browser session.
        notebooks = server_api(prof, INSTRUCTOR, "GET", f"{api}/student_notebook_submissions/{ANA}/{A1}")
        grades = server_api(prof, INSTRUCTOR, "GET", f"{api}/grades?submission_id={notebooks[0]['id']}")
        grade = next(g for g in grades if g["name"] == "written_answer")
        written = grade["max_score"]
        graded = server_api(prof, INSTRUCTOR, "PUT", f"{api}/grade/{grade['id']}", dict(grade, manual_score=written))
        assert graded["manual_score"] == written > 0

    with STEPS.step(prof, "instructor-releases-feedback"):
        grader.get_by_text("Manage Assignments").click()
        row = grader.locator("table tbody tr", has_text=A1)
        row.locator(".generate-feedback a").click()
        generated = confirm(grader, 300_000)
        assert "error" not in generated.lower(), generated
        row.locator(".release-feedback a").click()
        released = confirm(grader)
        assert "error" not in released.lower(), released

    with STEPS.step(prof, "instructor-downloads-the-grades-for-the-lms"):
        downloads = {}
        for lms in ("canvas", "moodle"):
            answer = prof.request.get(f"{url}/user/{INSTRUCTOR}/formgrader/export/{lms}.csv")
            assert answer.ok and "attachment" in answer.headers["content-disposition"], (lms, answer.status)
            downloads[lms] = list(csv.DictReader(answer.text().splitlines()))
    with open_gradebook(course) as gradebook:
        total = gradebook.find_submission(A1, ANA).score
    canvas = {row["SIS Login ID"]: row for row in downloads["canvas"][1:]}
    moodle = {row["Username"]: row for row in downloads["moodle"]}
    assert canvas[ANA]["SIS User ID"] == "20260001" and canvas[ANA][A1] == moodle[ANA][A1] == f"{total:g}"
    assert set(canvas) == set(moodle) == {ANA, BEN}, "the LMS files are not the roster's students"

    hidden = hidden_test_lines(A1)
    for name, page in students.items():
        with STEPS.step(page, f"{name}-fetches-feedback"):
            assignments_tab(page)
            page.locator("#submitted_assignments_list button", has_text="Fetch Feedback").first.click()
            page.locator("#submitted_assignments_list").get_by_text("view feedback").first.wait_for(timeout=60_000)
        home = Path(pwd.getpwnam(name).pw_dir) / "course" / A1 / "feedback"
        html = [p.read_text() for p in home.glob(f"*/{A1}.html")]
        assert html, f"{name} got no feedback file under {home}"
        assert not [line for line in hidden if line in html[0]], f"{name}'s feedback shows hidden tests"
        assert MARKER not in html[0] and "onerror" not in html[0], f"{name}'s feedback carries the script"
        if name == ANA:
            with open_gradebook(course) as gradebook:
                total = gradebook.find_submission(A1, ANA).score
            assert total == autograded + written
            assert f"{total:.1f}" in html[0] or f"{total:g}" in html[0], f"ana's feedback lacks her score {total}"


ATTEMPTS = '''import json, os, urllib.request, urllib.error
results = {}
def attempt(what, action):
    try:
        action()
        results[what] = "SUCCEEDED"
    except Exception as error:
        results[what] = f"{type(error).__name__}: {error}"
def request(url, method="GET"):
    urllib.request.urlopen(urllib.request.Request(url, method=method, headers={"Authorization": "token " + TOKEN}))
'''


def test_a_student_cannot_reach_another_students_work(term, browser):
    """Run as ben's Unix user: each attempt on ana's work or the course must fail."""
    inbound = term["hub"].course_exchange / "inbound"
    submission = next(inbound.glob(f"{ANA}+{A1}+*"))
    notebook = submission / f"{A1}.ipynb"
    released = {student: term["hub"].course_exchange / "feedback" / name for name, student
                in exchange.feedback_owners(str(Course.at(term["course"]).feedback("*", A1))).items()}
    feedback = released[ANA]
    page = browser.new_context().new_page()
    page.goto(f"{term['url']}/hub/login")
    page.fill("#username_input", BEN)
    page.fill("#password_input", term["passwords"][BEN])
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{BEN}/**", timeout=120_000)
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf" and c["path"].startswith("/hub"))
    made = page.request.post(f"{term['url']}/hub/api/users/{BEN}/tokens", headers={"X-XSRFToken": xsrf},
                             data={"note": "attempts", "expires_in": 600})
    assert made.ok, f"ben could not make a token of his own: {made.status} {made.text()[:300]}"
    token = made.json()["token"]
    url, course = term["url"], term["course"]
    solution, gradebook = Course.at(course).source(A1) / f"{A1}.ipynb", Course.at(course).gradebook_path
    code = ATTEMPTS + f'''TOKEN = {token!r}
attempt("list the exchange's inbound", lambda: os.listdir({str(inbound)!r}))
attempt("read ana's submission", lambda: open({str(notebook)!r}).read())
attempt("overwrite ana's submission", lambda: open({str(notebook)!r}, "w").write("{{}}"))
attempt("delete ana's submission", lambda: os.rename({str(submission)!r}, {str(submission)!r} + "-gone"))
attempt("list the released feedback", lambda: os.listdir({str(feedback.parent)!r}))
attempt("read ana's feedback", lambda: open({str(feedback)!r}).read())
attempt("read the course's solutions", lambda: open({str(solution)!r}).read())
attempt("list the course directory", lambda: os.listdir({str(course)!r}))
attempt("read the gradebook", lambda: open({str(gradebook)!r}, "rb").read())
attempt("list ana's home", lambda: os.listdir({str(pwd.getpwnam(ANA).pw_dir)!r}))
attempt("list the instructor's home", lambda: os.listdir({str(pwd.getpwnam(INSTRUCTOR).pw_dir)!r}))
attempt("open ana's server with ben's token", lambda: request({url + "/user/" + ANA + "/api/contents"!r}))
attempt("read ana's record in the hub's API", lambda: request({url + "/hub/api/users/" + ANA!r}))
attempt("start ana's server through the hub's API", lambda: request({url + "/hub/api/users/" + ANA + "/server"!r}, "POST"))
attempt("read own record (control)", lambda: request({url + "/hub/api/users/" + BEN!r}))
attempt("read own feedback (control)", lambda: open({str(released[BEN])!r}).read())
print(json.dumps(results))
'''
    before = notebook.read_bytes()
    results = as_user(BEN, code)
    (SHOTS / "attempts.json").write_text(json.dumps(results, indent=1))
    control = results.pop("read own record (control)")
    assert control == "SUCCEEDED", f"the token itself does not work, so the API attempts prove nothing: {control}"
    control = results.pop("read own feedback (control)")
    assert control == "SUCCEEDED", f"ben cannot read his own feedback, so the feedback attempt proves nothing: {control}"
    succeeded = [what for what, outcome in results.items() if outcome == "SUCCEEDED"]
    assert not succeeded, f"ben could: {succeeded}\n{json.dumps(results, indent=1)}"
    assert notebook.read_bytes() == before, "ana's submitted notebook changed"


def proxy_pid(term):
    return int((term["hub"].state / "proxy.pid").read_text())


def test_make_hub_again_with_a_longer_roster_adds_only_the_newcomer_to_the_running_hub(term, browser):
    """What `sudo make hub` runs, again, with one more person, while ana and
    the instructor are logged in: nothing restarts, nothing of anyone
    already there changes, their servers keep answering, the newcomer logs in."""
    course, hub_dir = term["course"], term["hub"].root
    pages = {name: log_in(browser, term, name) for name in (INSTRUCTOR, ANA)}
    hub_pid, proxy = hub.running(hub_dir, Course.at(course).course_id), proxy_pid(term)
    assert hub_pid, "the running hub is not found by its pid file"
    before = {"shadow": {n: line for n in (INSTRUCTOR, ANA, BEN)
                         for line in Path("/etc/shadow").read_text().splitlines() if line.startswith(f"{n}:")},
              "files": {str(p): p.read_bytes() for p in course.rglob("*") if p.is_file() and p.name != "gradebook.db"}}
    with open_gradebook(course) as gradebook:
        scores = {(s.student.id, s.assignment.name): s.score for a in gradebook.assignments for s in a.submissions}
    write_roster(term["roster"], LONGER_ROSTER)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "dlcourse", "hub", "--course", str(course), "--roster",
                           str(term["roster"]), "--hub-dir", str(hub_dir)], capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    printed = done.stdout
    assert f"The hub is running (pid {hub_pid})" in printed, printed
    assert hub.running(hub_dir, Course.at(course).course_id) == hub_pid and proxy_pid(term) == proxy, \
        "the hub or its proxy was restarted"
    for name, page in pages.items():
        answer = page.request.get(f"{term['url']}/user/{name}/api/status")
        assert answer.ok, f"{name}'s server stopped answering: {answer.status}"
    newcomer = log_in(browser, dict(term, passwords=passwords(hub_dir)), LATECOMER)
    with STEPS.step(newcomer, "the-newcomer-logs-in-to-the-running-hub"):
        assert newcomer.request.get(f"{term['url']}/user/{LATECOMER}/api/status").ok
    assert f"New accounts: {LATECOMER};" in printed, printed
    assert set(passwords(hub_dir)) == {row[0] for row in LONGER_ROSTER}
    after_shadow = {n: line for n in (INSTRUCTOR, ANA, BEN)
                    for line in Path("/etc/shadow").read_text().splitlines() if line.startswith(f"{n}:")}
    assert after_shadow == before["shadow"], "a password of someone already there changed"
    changed = [p for p, data in before["files"].items() if not Path(p).is_file() or Path(p).read_bytes() != data]
    assert not changed, f"files changed: {changed[:5]}"
    with open_gradebook(course) as gradebook:
        assert scores == {(s.student.id, s.assignment.name): s.score for a in gradebook.assignments
                          for s in a.submissions}, "a grade changed"
        assert gradebook.find_student(LATECOMER).lms_user_id == "20260003"
    # As make grades does it: as a member of the staff (root is refused), into the course's
    # build/, with the usual umask.
    exports = course / hub.EXPORTS
    export = ["sh", "-c", 'umask 022 && exec "$@"', "sh", sys.executable, "-m", "dlcourse", "export",
              "--course", str(course), "--to", str(exports / "grades.csv"), "--roster", str(term["roster"])]
    refused = subprocess.run(export, capture_output=True, text=True)
    assert refused.returncode != 0 and "never as root" in refused.stderr, refused.stdout + refused.stderr
    exported = as_ta(export)
    assert exported.returncode == 0, exported.stderr
    assert f"{LATECOMER} (20260003) has no submission of {A1}" in exported.stdout, exported.stdout
    canvas, moodle = lms_files(exports)
    names = ("grades.csv", "grades-canvas.csv", "grades-moodle.csv")
    reads = "import json\nresults = {}\n" + "".join(
        f"try:\n    open({str(exports / n)!r}).read()\n    results[{n!r}] = 'SUCCEEDED'\n"
        f"except OSError as error:\n    results[{n!r}] = str(error)\n" for n in names) + "print(json.dumps(results))"
    assert as_user(INSTRUCTOR, reads) == dict.fromkeys(names, "SUCCEEDED"), "the staff cannot read the grades"
    read_by_student = as_user(ANA, reads)
    assert not [n for n, outcome in read_by_student.items() if outcome == "SUCCEEDED"], \
        f"a student read the class's grades: {read_by_student}"
    students = [row for row in LONGER_ROSTER if row[3] == "student"]
    assert [(r["SIS User ID"], r["SIS Login ID"]) for r in canvas[1:]] == [(row[2], row[0]) for row in students]
    assert [r["ID number"] for r in moodle] == [row[2] for row in students]
    assert canvas[1][A1] == moodle[0][A1] == f"{scores[ANA, A1]:g}", (canvas[1], moodle[0])
    assert canvas[3][A1] == moodle[2][A1] == "", "the latecomer without a submission got a grade"

    # The late rule reads the receipt: with A1 due one second before ana's receipt
    # (the TA moves the due date), she loses one day's penalty in both LMS files.
    with open_gradebook(course) as gradebook:
        submission = gradebook.find_submission(A1, ANA)
        stamp, due, max_score = submission.timestamp, submission.assignment.duedate, submission.max_score
    kept = term["hub"].course_exchange / receipts.RECEIPTS
    received = [datetime.fromisoformat(json.loads(p.read_text())["received"]).replace(tzinfo=None)
                for p in kept.glob(f"{ANA}+{A1}+*.json")]
    assert stamp in received, f"ana's submission time {stamp} is none of her receipts' {received}"
    per_day = Course.at(course).config.Course.late_penalty_per_day
    try:
        moved = as_ta(["nbgrader", "db", "assignment", "add", A1, f"--duedate={utc(stamp - timedelta(seconds=1))}"],
                      cwd=course)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        exported = as_ta(export)
        assert exported.returncode == 0, exported.stderr
        canvas, moodle = lms_files(exports)
    finally:
        as_ta(["nbgrader", "db", "assignment", "add", A1, f"--duedate={utc(due)}"], cwd=course)
    late = f"{max(0, scores[ANA, A1] - per_day * max_score):g}"
    assert canvas[1][A1] == moodle[0][A1] == late, (late, canvas[1], moodle[0])
    assert moodle[0][f"{A1} feedback"].startswith("Late by 1 day(s)"), moodle[0]
    (SHOTS / "setup-times.json").write_text(json.dumps({"first setup (3 people)": term["setup_seconds"],
                                                       "again with a fourth": round(seconds, 1)}, indent=1))


def as_ta(argv, cwd=None):
    """Run ``argv`` as the TA (their groups, their home); return the CompletedProcess."""
    home = pwd.getpwnam(TA).pw_dir
    return subprocess.run(["setpriv", "--reuid", TA, "--regid", TA, "--init-groups", *argv], cwd=cwd or home,
                          capture_output=True, text=True, env=dict(nbgrader_environment(), HOME=home))


def lms_files(exports):
    """Return the rows of the Canvas and the Moodle file in ``exports``."""
    files = []
    for name in ("grades-canvas.csv", "grades-moodle.csv"):
        with open(exports / name, newline="") as handle:
            files.append(list(csv.DictReader(handle)))
    return files


def utc(moment):
    """``moment`` (naive, UTC) as nbgrader reads a due date."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def test_one_unreadable_submission_does_not_stop_the_collection(term):
    """ben submits again and closes his new submission to everyone (0700):
    the instructor's collect skips it with the reason and collects ana."""
    inbound = term["hub"].course_exchange / "inbound"
    mine = max(inbound.glob(f"{BEN}+{A1}+*"))
    student, assignment, stamp, rest = mine.name.split("+", 3)
    later = inbound / "+".join([student, assignment, stamp.replace(stamp[:4], str(int(stamp[:4]) + 1), 1), rest])
    as_user(BEN, f"import json, os, shutil\nshutil.copytree({str(mine)!r}, {str(later)!r})\n"
                 f"os.chmod({str(later)!r}, 0o700)\nprint(json.dumps(None))")
    done, submitted = collect_as_instructor(term)
    assert done.returncode == 0, f"one closed submission stopped the collection:\n{done.stdout}{done.stderr}"
    assert (submitted / ANA / A1 / f"{A1}.ipynb").is_file(), f"ana was not collected:\n{done.stderr}"
    skipped = submitted / BEN / exchange.NOT_COLLECTED.format(assignment=A1)
    assert "was not collected: PermissionError" in skipped.read_text() and "Fix:" in skipped.read_text()
    assert not (submitted / BEN / A1).exists(), "half of ben's submission was collected"
    assert f"{BEN}'s submission" in done.stderr, "the instructor was not told"


def collect_as_instructor(term):
    """Run nbgrader collect as the instructor, into a scratch course folder;
    return (the finished process, the scratch folder's submitted/)."""
    scratch = Path(tempfile.mkdtemp(prefix="collect-", dir=term["base"]))
    shutil.chown(scratch, INSTRUCTOR)
    env = dict(nbgrader_environment(), HOME=pwd.getpwnam(INSTRUCTOR).pw_dir,
               JUPYTER_CONFIG_PATH=str(term["hub"].staff_config))
    done = subprocess.run(["setpriv", "--reuid", INSTRUCTOR, "--regid", INSTRUCTOR, "--init-groups",
                           sys.executable, "-m", "nbgrader", "collect", A1, f"--CourseDirectory.root={scratch}"],
                          capture_output=True, text=True, cwd=pwd.getpwnam(INSTRUCTOR).pw_dir, env=env)
    layout = Course.at(term["course"])
    return done, Path(str(layout.submitted(ANA, A1)).replace(str(layout.root), str(scratch), 1)).parent.parent


def test_a_submission_is_the_submitters_at_the_exchanges_time(term):
    """ben submits as ana (nbgrader's --student), then edits his own
    submission in the exchange and sets its timestamp.txt back a year:
    collect takes ana's own work as hers and tells the instructor, and
    holds ben's for review with the time of his edit."""
    inbound, kept = term["hub"].course_exchange / "inbound", term["hub"].course_exchange / receipts.RECEIPTS
    home = pwd.getpwnam(BEN).pw_dir
    env = dict(nbgrader_environment(), HOME=home, JUPYTER_CONFIG_PATH=str(term["hub"].student_config))
    done = subprocess.run(["setpriv", "--reuid", BEN, "--regid", BEN, "--init-groups", sys.executable, "-m",
                           "nbgrader", "submit", A1, "--student", ANA], capture_output=True, text=True,
                          cwd=Path(home) / "course", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    forged = max(inbound.glob(f"{ANA}+{A1}+*"), key=lambda p: p.stat().st_ctime)
    assert forged.stat().st_uid == pwd.getpwnam(BEN).pw_uid
    mine = min((p for p in inbound.glob(f"{BEN}+{A1}+*") if p.stat().st_mode & 0o050), key=lambda p: p.name)
    for _ in range(30):   # the hub's receipt service writes them, as its own account
        if (kept / f"{forged.name}.json").exists() and (kept / f"{mine.name}.json").exists():
            break
        time.sleep(1)
    receipt = json.loads((kept / f"{forged.name}.json").read_text())
    assert receipt["owner"] == BEN, receipt
    assert (kept / f"{forged.name}.json").stat().st_uid == pwd.getpwnam(receipts.ACCOUNT).pw_uid
    received = json.loads((kept / f"{mine.name}.json").read_text())["received"]
    attempts = ATTEMPTS + f'''TOKEN = ""
import glob, shutil
for closed in glob.glob({str(inbound / f"{BEN}+{A1}+*")!r}):   # the 0700 copy of the test before
    if closed != {str(mine)!r}:
        shutil.rmtree(closed)
attempt("list the receipts", lambda: os.listdir({str(kept)!r}))
attempt("write a receipt", lambda: open({str(kept / "x.json")!r}, "w").write("{{}}"))
attempt("set the time back", lambda: open({str(mine / "timestamp.txt")!r}, "w").write("2025-01-01 00:00:00.000000 UTC"))
attempt("edit the submission", lambda: open({str(mine / f"{A1}.ipynb")!r}, "a").write(" "))
print(json.dumps(results))
'''
    results = as_user(BEN, attempts)
    assert results["list the receipts"] != "SUCCEEDED" and results["write a receipt"] != "SUCCEEDED", results
    assert results["edit the submission"] == "SUCCEEDED", f"the edit (the attack's control) failed: {results}"
    done, submitted = collect_as_instructor(term)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{forged.name} was not collected: it is named as {ANA}'s but was made by {BEN}" in done.stderr, done.stderr
    ana_collected = (submitted / ANA / A1 / f"{A1}.ipynb").read_text()
    ana_own = next(p for p in inbound.glob(f"{ANA}+{A1}+*") if p != forged) / f"{A1}.ipynb"
    assert ana_collected == ana_own.read_text(), "ana's collected work is not her own"
    held = json.loads((submitted / BEN / receipts.HELD.format(assignment=A1)).read_text())
    assert held["folder"] == mine.name and "after its receipt" in held["reasons"][0], held
    stamp = parse_utc((submitted / BEN / A1 / "timestamp.txt").read_text())
    assert stamp > datetime.fromisoformat(received).replace(tzinfo=None), (stamp, received)
    assert "held for review" in done.stderr


def server_pid(name):
    """Return the process id of ``name``'s Jupyter server."""
    pid = subprocess.run(["pgrep", "-u", name, "-f", "jupyterhub-singleuser"], capture_output=True, text=True)
    assert pid.returncode == 0, f"{name} has no running server"
    return int(pid.stdout.split()[0])


def server_group(name):
    """Return the folders of the groups (one per controller) that ``name``'s Jupyter server runs in."""
    lines = Path(f"/proc/{server_pid(name)}/cgroup").read_text().splitlines()
    groups = {controller: path for _, controllers, path in (line.split(":", 2) for line in lines)
              for controller in controllers.split(",")}
    return {c: limits.CGROUP_ROOT / c / groups[c].lstrip("/") for c in limits.CONTROLLERS}


def memory_stops(folder):
    return int(dict(line.split() for line in (folder / "memory.oom_control").read_text().splitlines())["oom_kill"])


def write_notebook(name, file_name, sources):
    """Write a notebook of code cells into ``name``'s course folder, as ``name``."""
    notebook = json.dumps({"cells": [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [],
                                      "execution_count": None} for s in sources],
                           "metadata": {"kernelspec": jupyter.notebook_kernelspec()}, "nbformat": 4,
                           "nbformat_minor": 5})
    path = Path(pwd.getpwnam(name).pw_dir) / "course" / file_name
    as_user(name, f"open({str(path)!r}, 'w').write({notebook!r})\nprint('null')")
    return path.name


def in_a_fresh_workspace(page, term, name):
    """Reload ``name``'s JupyterLab in an empty workspace (nothing the earlier tests opened); return the page."""
    page.goto(f"{term['url']}/user/{name}/lab/workspaces/{name}-fresh?reset")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('docmanager:open')",
                           timeout=120_000)
    return page


def run_cell(page, index):
    """Run cell ``index`` of the notebook in front, as Shift+Enter would, without waiting."""
    page.evaluate(f"i => {{ {NOTEBOOK}.content.activeCellIndex = i; "
                  "return window.jupyterapp.commands.execute('notebook:run-cell'); }", index)


def wait_for_cell(page, index, timeout_ms):
    """Wait until cell ``index`` has run; return its outputs."""
    page.wait_for_function(f"""i => {{ const w = {NOTEBOOK};
        return w.content.model.sharedModel.cells[i].execution_count !== null
               && w.sessionContext.session.kernel.status === 'idle'; }}""", arg=index, timeout=timeout_ms)
    return cells(page)[index]["outputs"]


# What ana's kernel tries, from inside her group: each must fail. It also leaves a process
# of its own behind, detached, for when her server dies.
ESCAPES = {"raise her limit": "{memory}/memory.limit_in_bytes", "lift her process limit": "{pids}/pids.max",
           "leave her group": "{top}/cgroup.procs", "move to the parent group": "{top}/{parent}/tasks",
           "join ben's group": "{ben}/tasks"}
FROM_THE_KERNEL = """import json, subprocess
results = {{}}
for what, path in {escapes}.items():
    try:
        open(path, 'w').write('max' if 'pids' in path else '0')
        results[what] = 'SUCCEEDED'
    except OSError as error:
        results[what] = str(error)
results['left behind'] = subprocess.Popen(['sleep', '600'], start_new_session=True).pid
print(json.dumps(results))"""


def test_a_kernel_past_the_memory_limit_is_stopped_and_told_why_while_others_work_on(term, browser):
    """Each person's server runs in a group of their own, with the hub's memory
    limit, CPU share and process limit. ana's kernel allocating past the
    limit is stopped, and the new kernel tells her why in the next cell she
    runs (once: not after a restart), while ben's kernel, mid-cell, finishes
    untouched. From her kernel, ana can neither raise her limits nor leave
    her group; when her server dies, what she left running is stopped."""
    limit = ByteSpecification().validate(None, limits.configured()[0])
    pages = {name: in_a_fresh_workspace(log_in(browser, term, name), term, name) for name in (ANA, BEN)}
    groups = {name: server_group(name) for name in pages}
    for name, group in groups.items():
        assert group == dict(zip(limits.CONTROLLERS, limits.group_folders(name))), f"{name}'s server: {group}"
        assert int((group["memory"] / "memory.limit_in_bytes").read_text()) == limit
        assert int((group["cpu"] / "cpu.shares").read_text()) == limits.LimitedSpawner.cpu_shares.default_value
        assert int((group["pids"] / "pids.max").read_text()) == limits.LimitedSpawner.max_processes.default_value
    log_in(browser, term, INSTRUCTOR)
    staff = server_group(INSTRUCTOR)   # grading limits each submission itself, and runs several at once
    assert (staff["pids"] / "pids.max").read_text().strip() == "max"
    assert int((staff["memory"] / "memory.limit_in_bytes").read_text()) > 2 ** 60, "the staff's memory is limited"
    assert int((staff["cpu"] / "cpu.shares").read_text()) == limits.LimitedSpawner.cpu_shares.default_value
    ana, ben = pages[ANA], pages[BEN]
    escapes = {what: path.format(memory=groups[ANA]["memory"], pids=groups[ANA]["pids"], ben=groups[BEN]["memory"],
                                 top=limits.CGROUP_ROOT / "memory", parent=limits.PARENT)
               for what, path in ESCAPES.items()}
    hog = write_notebook(ANA, "memory.ipynb", [f"import numpy as np\nhog = np.ones({limit + 2**30} // 8)",
                                               "print('after')", FROM_THE_KERNEL.format(escapes=escapes)])
    steady = write_notebook(BEN, "steady.ipynb", ["import time\nstart = time.time()\n"
                                                  "while time.time() - start < 20:\n    total = sum(range(10_000))\n"
                                                  "print(total)"])
    with STEPS.step(ben, "a-student-runs-a-long-cell-while-another-exceeds-her-memory"):
        open_notebook(ben, steady)
        kernel = ben.evaluate(f"() => {NOTEBOOK}.sessionContext.session.kernel.id")
        run_cell(ben, 0)
    with STEPS.step(ana, "a-kernel-past-the-memory-limit-is-stopped-and-the-student-told-why"):
        open_notebook(ana, hog)
        run_cell(ana, 0)
        assert "died" in dialog_text(ana, 120_000)   # JupyterLab's own: the kernel restarts
        close_dialog(ana)
        ana.wait_for_function(f"() => {NOTEBOOK}.sessionContext.session.kernel.status === 'idle'", timeout=120_000)
        run_cell(ana, 1)
        outputs = wait_for_cell(ana, 1, 60_000)
    told = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert memory_notice.message(limit) in told, f"ana was not told why: {outputs}"
    assert "after" in "".join(o.get("text", "") for o in outputs), outputs
    assert memory_stops(groups[ANA]["memory"]) == 1 and memory_stops(groups[BEN]["memory"]) == 0
    finished = wait_for_cell(ben, 0, 120_000)
    assert "".join(o.get("text", "") for o in finished).strip() == "49995000", f"ben's cell: {finished}"
    assert ben.evaluate(f"() => {NOTEBOOK}.sessionContext.session.kernel.id") == kernel, "ben's kernel restarted"

    ana.evaluate(f"() => {NOTEBOOK}.sessionContext.session.kernel.restart()")   # a new kernel process
    ana.wait_for_function(f"() => {NOTEBOOK}.sessionContext.session.kernel.status === 'idle'", timeout=120_000)
    run_cell(ana, 1)
    again = wait_for_cell(ana, 1, 60_000)
    assert "stderr" not in json.dumps(again), f"ana was told again by a kernel after the one that told her: {again}"

    run_cell(ana, 2)
    tried = json.loads("".join(o.get("text", "") for o in wait_for_cell(ana, 2, 60_000)))
    left_behind = tried.pop("left behind")
    assert not [what for what, outcome in tried.items() if outcome == "SUCCEEDED"], tried
    assert int((groups[ANA]["memory"] / "memory.limit_in_bytes").read_text()) == limit
    assert left_behind in limits.processes(groups[ANA]["pids"]), "ana's detached process is not in her group"
    os.kill(server_pid(ANA), 9)   # her server dies; the hub sees it at its next poll
    for _ in range(180):
        if not Path(f"/proc/{left_behind}").exists():
            break
        time.sleep(0.5)
    assert not Path(f"/proc/{left_behind}").exists(), "what ana left running outlived her server"
    assert not limits.processes(groups[ANA]["memory"]), limits.processes(groups[ANA]["memory"])


def test_the_hubs_services_run_as_their_own_unprivileged_accounts(term):
    """The receipt service and the idle culler run, each as its account (not root)."""
    listed = subprocess.run(["ps", "-ww", "-eo", "user:32,args"], capture_output=True, text=True, check=True).stdout
    users = {what: [line.split()[0] for line in listed.splitlines() if what in line and "ps -eo" not in line]
             for what in ("dlcourse receipts", "jupyterhub_idle_culler")}
    assert users == {"dlcourse receipts": [receipts.ACCOUNT], "jupyterhub_idle_culler": [hub.CULLER_ACCOUNT]}, listed


def test_a_ta_cannot_change_what_root_runs_or_trusts(term):
    """As the TA's Unix user: every way to change what root runs or reads
    (the hub's configuration, the Makefile, nbgrader's configuration, the
    course's code, the roster, git's hooks, the course's top level) fails,
    while everything grading needs is writable (the control). Then links
    the TA plants where root used to follow them (the gradebook, the
    released assignments) give root's files to no one when `make hub` runs
    again."""
    course, layout = term["course"], Course.at(term["course"])
    secret = term["base"] / "root-only.txt"
    secret.write_text("root's secret")
    os.chmod(secret, 0o600)
    writable = [layout.source(A1), layout.release(A1), layout.submitted(), layout.autograded(), layout.feedback(),
                layout.gradebook_path.parent, course / hub.EXPORTS]
    planted = layout.release(A1) / "notes.txt"
    code = ATTEMPTS + "".join(
        f"attempt('write {name}', lambda: open({str(course / name)!r}, 'a').write('import os'))\n"
        for name in (*ROOTS_FILES, "dlcourse/__init__.py")) + f'''
attempt("write the roster", lambda: open({str(term["roster"])!r}, "a").write("{TA},x,,instructor"))
attempt("add a git hook", lambda: open({str(course / ".git" / "hooks" / "post-merge")!r}, "w").write("id"))
attempt("replace hub/", lambda: os.rename({str(course / "hub")!r}, {str(course / "hub.old")!r}))
attempt("add a file to the course's top", lambda: open({str(course / "sitecustomize.py")!r}, "w").write(""))
attempt("open the course to students", lambda: os.chmod({str(course)!r}, 0o777))
attempt("replace the exchange's outbound", lambda: os.rename({str(term["hub"].course_exchange / "outbound")!r},
                                                             {str(term["hub"].course_exchange / "moved")!r}))
for folder in {[str(f) for f in writable]!r}:
    attempt("write in " + folder + " (control)", lambda: open(os.path.join(folder, "ta-was-here"), "w").write("ok"))
attempt("write the gradebook (control)", lambda: open({str(layout.gradebook_path)!r}, "ab").close())
attempt("read the Makefile (control)", lambda: open({str(course / "Makefile")!r}).read())
# Links where root used to follow them: the gradebook, and a file of the released assignment.
os.rename({str(layout.gradebook_path)!r}, {str(layout.gradebook_path) + ".kept"!r})
os.symlink({str(secret)!r}, {str(layout.gradebook_path)!r})
os.symlink({str(secret)!r}, {str(planted)!r})
print(json.dumps(results))
'''
    results = as_user(TA, code)
    controls = {what: results.pop(what) for what in list(results) if what.endswith("(control)")}
    assert set(controls.values()) == {"SUCCEEDED"}, f"the TA cannot do what grading needs: {controls}"
    succeeded = [what for what, outcome in results.items() if outcome == "SUCCEEDED"]
    assert not succeeded, f"the TA could: {succeeded}\n{json.dumps(results, indent=1)}"
    before = secret.stat()
    try:
        done = subprocess.run([sys.executable, "-m", "dlcourse", "hub-setup", "--course", str(course), "--roster",
                               str(term["roster"]), "--hub-dir", str(term["hub"].root)], capture_output=True, text=True)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
        assert f"as {hub.UNPRIVILEGED}, failed" in done.stderr and planted.name in done.stderr, done.stderr
        after = secret.stat()
        assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid, before.st_mode), \
            "make hub changed root's file through the TA's link"
        leaked = [p for p in term["hub"].edition.rglob("*")
                  if p.is_file() and "root's secret" in p.read_text(errors="ignore")]
        assert not leaked, f"root's file went into the student edition: {leaked}"
    finally:
        layout.gradebook_path.unlink()
        os.rename(f"{layout.gradebook_path}.kept", layout.gradebook_path)
        planted.unlink()
        for folder in writable:
            (folder / "ta-was-here").unlink(missing_ok=True)
    hub_setup(course, term["roster"], term["hub"].root)   # and with the links gone, make hub works again
    refused = subprocess.run([sys.executable, "-m", "dlcourse", "release", "--course", str(course)],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "never as root" in refused.stderr, refused.stdout + refused.stderr


def test_a_bad_roster_changes_nothing(term):
    """A roster whose later rows are bad (a system account, a missing field,
    a colon in a name) stops before any account, group, folder or mode changes."""
    course, bad = term["course"], term["base"] / "bad-roster.csv"
    dee, eve, fay = NEVER_MADE
    write_roster(bad, [*ROSTER, (dee, "Dee Diaz", "20260009", "student"), ("daemon", "Daemon", "1", "student"),
                       (eve, "", "20260010", "student"), (fay, "Fay: Admin", "20260011", "ta")])
    first = len(ROSTER) + 2   # the line of dee's row, after the header and the roster
    hub_dir = term["base"] / "another-hub"

    def machine():
        return {"accounts": Path("/etc/passwd").read_text(), "groups": Path("/etc/group").read_text(),
                "hub": hub_dir.exists(),
                "course": {str(p): p.stat().st_mode for p in [course, *course.iterdir()]}}

    before = machine()
    done = subprocess.run([sys.executable, "-m", "dlcourse", "hub-setup", "--course", str(course), "--roster",
                           str(bad), "--hub-dir", str(hub_dir)], capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    for line, what in ((first + 2, "no full_name"), (first + 3, "the full name 'Fay: Admin'")):
        assert f"line {line}: {what}" in done.stderr, done.stderr
    assert machine() == before, "a bad roster changed the machine"
    write_roster(bad, [*ROSTER, (dee, "Dee Diaz", "20260009", "student"), ("daemon", "Daemon", "1", "student")])
    done = subprocess.run([sys.executable, "-m", "dlcourse", "hub-setup", "--course", str(course), "--roster",
                           str(bad), "--hub-dir", str(hub_dir)], capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert f"line {first + 1}: 'daemon' is a system account" in done.stderr, done.stderr
    assert machine() == before, "a roster naming a system account changed the machine"
