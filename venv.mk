# How the course sets up its virtual environment: shared by the course's
# Makefile and the student edition's (which includes this same file).
# Python 3.11, 3.12 or 3.13: the first one installed (or PYTHON=...), the system's
# (/usr/bin) first: on a hub every user's server runs this environment's Python,
# and one kept in root's home (pyenv's, say) is closed to them.
PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11 /usr/bin/python3.12 /usr/bin/python3.13) \
            $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3))
VENV ?= .venv
# The student edition's Makefile sets --student: nbgrader's instructor tools off.
JUPYTER_SETUP ?=
BIN := $(VENV)/bin

# Keras's backend: one for each requirements-<backend>.txt, which pins its
# packages; tensorflow unless KERAS_BACKEND says otherwise. Every kernel that
# make starts (the course, JupyterLab, grading) runs on it.
KERAS_BACKEND ?= tensorflow
export KERAS_BACKEND
BACKENDS := $(patsubst requirements-%.txt,%,$(wildcard requirements-*.txt))
ifeq ($(filter $(KERAS_BACKEND),$(BACKENDS)),)
$(error KERAS_BACKEND=$(KERAS_BACKEND) is not one of the course's backends ($(BACKENDS)). Fix: set KERAS_BACKEND to one of them, or leave it unset for tensorflow)
endif

# The environment without a backend, then each backend's packages on top.
BASE_STAMP := $(VENV)/.installed
STAMP := $(VENV)/.installed-$(KERAS_BACKEND)
ALL_BACKENDS := $(BACKENDS:%=$(VENV)/.installed-%)

$(VENV)/.installed-%: requirements-%.txt $(BASE_STAMP)
	$(BIN)/python -m pip install --quiet -r $<
	touch $@

$(BASE_STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else "error: the course needs Python 3.11, 3.12 or 3.13, not " + sys.version.split()[0] + "; set PYTHON=/path/to/python3.12 (for example)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	$(BIN)/python -m dlcourse.jupyter $(JUPYTER_SETUP)
	touch $@

venv: $(STAMP)
