# Feedforward neural networks with Keras -- course tasks.
# `make course` executes every lecture and prints the summary; `make test`
# runs the test suite. Both create .venv with the pinned versions first.

SHELL := /bin/bash
.DEFAULT_GOAL := help
include venv.mk

.PHONY: help venv bench-backends sandbox-tools browser-tools hub-tools hub test-hub course smoke test test-fast test-browser lab release student-edition autograde clear feedback grades bench-autograde clean

help:
	@echo "make course [JOBS=N] [KERAS_BACKEND=jax]   execute every lecture and solution in full, N at a time (default: cores), into build/executed; print the summary"
	@echo "                KERAS_BACKEND (tensorflow, jax or torch; default tensorflow) works with every target: its packages are installed first"
	@echo "make smoke      the same, as a quick fast-mode run (bands not checked)"
	@echo "make test       the whole test suite (what CI runs)"
	@echo "make test-fast  the quick tests only (no notebook training)"
	@echo "make test-browser   the student and instructor flow in JupyterLab, headless Chromium"
	@echo "make lab        open the course in JupyterLab"
	@echo "make venv       create .venv with the pinned dependencies"
	@echo "make release    regenerate assignments/ from solutions/ (nbgrader generate_assignment)"
	@echo "make student-edition [OUT=folder]   write the course for students (no solutions) into build/student-edition"
	@echo "make autograde A=a1_layers_units [WORKERS=N]  autograde every collected submission, sandboxed, in parallel"
	@echo "make clear A=a1_layers_units S=student         count the points of a submission held for review"
	@echo "make feedback A=a1_layers_units    write the HTML feedback of an assignment"
	@echo "make grades     export all grades to build/grades.csv (and Canvas's and Moodle's files, with a roster)"
	@echo "make bench-autograde   time serial nbgrader against the parallel, sandboxed grader"
	@echo "make bench-backends [FAST=1]   every lecture on every backend, side by side, into build/bench-backends.md (-fast.md)"
	@echo "make sandbox-tools     install bubblewrap, the grading sandbox (Debian/Ubuntu, as root)"
	@echo "sudo make hub [ROSTER=hub/roster.csv] [HUB_DIR=folder]   accounts from the roster, then JupyterHub on :8000 (if it runs: only the accounts)"
	@echo "make test-hub   the term on a real hub, in headless Chromium (as root)"

# Two notebooks at a time on two cores: a lecture alone keeps about one core busy.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
course: $(STAMP)
	$(BIN)/python -m dlcourse run --jobs $(JOBS) lectures/ solutions/

smoke: $(STAMP)
	$(BIN)/python -m dlcourse run --fast lectures/ solutions/

# The tests run notebooks on every backend, so they install all of them. They
# run in two lanes (pytest-xdist): the notebooks beside the grading (tests/conftest.py).
PYTEST = $(BIN)/python -m pytest -n 2 --dist loadgroup
test: $(ALL_BACKENDS) sandbox-tools browser-tools hub-tools
	$(PYTEST) --durations=15

# The student's and instructor's flow in JupyterLab, in headless Chromium.
test-browser: $(STAMP) browser-tools
	$(BIN)/python -m pytest -m browser

test-hub: $(STAMP) sandbox-tools browser-tools hub-tools
	$(BIN)/python -m pytest -m hub

test-fast: $(ALL_BACKENDS)
	$(PYTEST) -m "not slow"

# Jupyter refuses to start as root (as in many containers) unless told to.
lab: $(STAMP)
	$(BIN)/python -m dlcourse lab

release: $(STAMP)
	$(BIN)/python -m dlcourse release

OUT ?= build/student-edition
student-edition: $(STAMP)
	$(BIN)/python -m dlcourse publish $(OUT)

# $(call debian_package,COMMAND,PACKAGE,WHY): install PACKAGE with apt-get (as
# root) unless COMMAND exists; otherwise say how, and why it is needed.
debian_package = command -v $(1) >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -qq $(2) >/dev/null || { apt-get update -qq && apt-get install -y -qq $(2); }; \
	  else echo "error: install $(2) (e.g. sudo apt-get install $(2)): $(3)"; exit 2; fi; }

# Grading runs each student's kernel in bubblewrap.
sandbox-tools:
	@$(call debian_package,bwrap,bubblewrap,grading runs student code in it)

# The browser tests drive Debian's chromium (Playwright's own download needs the internet).
browser-tools:
	@$(call debian_package,chromium,chromium,the browser tests drive it)

# The hub: Node and npm from Debian, the proxy from npm (pinned in hub/package-lock.json)
# into hub/node_modules, setfacl (Debian's acl), which gives each student their feedback,
# and cgcreate (Debian's cgroup-tools), which makes each person's limited group.
HUB_PROXY := hub/node_modules/.bin/configurable-http-proxy
hub-tools: $(HUB_PROXY)
	@$(call debian_package,setfacl,acl,the hub gives each student read access to their own feedback)
	@$(call debian_package,cgcreate,cgroup-tools,the hub limits each person's memory and CPU with it)
$(HUB_PROXY): hub/package.json hub/package-lock.json
	@$(call debian_package,npm,nodejs npm,the hub's proxy is an npm package)
	npm ci --prefix hub --no-audit --no-fund --loglevel=error
	touch $@

ROSTER ?= hub/roster.csv
# HUB_DIR unset: dlcourse.host.term.hub.DEFAULT_HUB_DIR.
HUB_DIR ?=
hub: $(STAMP) sandbox-tools hub-tools
	@test "$$(id -u)" = 0 || { echo "error: the hub makes Unix accounts: run sudo make hub"; exit 2; }
	$(BIN)/python -m dlcourse hub --roster $(ROSTER) $(if $(HUB_DIR),--hub-dir $(HUB_DIR))

autograde: $(STAMP) sandbox-tools
	@test -n "$(A)" || { echo "error: name the assignment, e.g. make autograde A=a1_layers_units"; exit 2; }
	$(BIN)/python -m dlcourse autograde $(A) $(if $(WORKERS),--workers $(WORKERS))

clear: $(STAMP)
	@test -n "$(A)" -a -n "$(S)" || { echo "error: name the assignment and the student, e.g. make clear A=a1_layers_units S=alice"; exit 2; }
	$(BIN)/python -m dlcourse clear $(A) $(S)

feedback: $(STAMP)
	@test -n "$(A)" || { echo "error: name the assignment, e.g. make feedback A=a1_layers_units"; exit 2; }
	$(BIN)/python -m dlcourse feedback $(A)

grades: $(STAMP)
	$(BIN)/python -m dlcourse export --to build/grades.csv $(if $(wildcard $(ROSTER)),--roster $(ROSTER))

bench-autograde: $(STAMP) sandbox-tools
	$(BIN)/python tests/bench_autograde.py $(if $(A),--assignment $(A))

bench-backends: $(ALL_BACKENDS)
	$(BIN)/python tests/bench_backends.py $(if $(FAST),--fast)

clean:
	rm -rf build
