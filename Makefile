# Two commands: `make demo` and `make test`. Both create or refresh .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Trains and evaluates a tiny Axial-DeepLab on synthetic shapes (about 6-10
# minutes on 2 CPU cores); prints PQ / SQ / RQ / mIoU / AP and the run folder.
demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) trainer/demo.py $(DEMO_ARGS)

test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=25 tests

bench: $(STAMP)
	$(PY) benchmarks/attention_benchmark.py
	$(PY) benchmarks/peer_benchmark.py
