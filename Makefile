# Two entry points for a fresh machine (README): `make run` and `make test`.
# Both create .venv, or refresh it whenever requirements.txt or pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run run-real test venv clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The main job on the embedded default (smoke_tiny.yaml: tiny Gemma 3, CPU-sized), through the Kaggle
# notebook run headlessly by papermill -> run dir (with the executed notebook) -> verified zip.
run: $(STAMP)
	$(VENV)/bin/tunix-nb notebook notebooks/kaggle_submission.ipynb

# The real Gemma 3 270M (from PyPI, converted once), LoRA on CPU, before/after scorecards (< 15 min).
run-real: $(STAMP)
	$(VENV)/bin/tunix-nb run --config training/configs/cpu_gemma3_270m.yaml

# One worker per core, each test file whole on one worker (its fixtures train once), the slowest files
# first in the order tests/conftest.py gives (xdist would otherwise order them by their number of tests);
# the 25 slowest tests are listed at the end, to see where the time goes.
test: $(STAMP)
	$(PY) -m pytest -n auto --dist loadgroup --no-loadscope-reorder --durations=25

clean-venv:
	rm -rf $(VENV)
