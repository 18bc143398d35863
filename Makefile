# The two commands: `make run` (set up .venv, train the quickstart offline) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow bench bench-sentiment lint install install-tflite clean notebooks

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# `--format tflite` needs litert-torch, whose pins (typing-extensions < 4.13) the serving stack
# cannot take: it gets an environment of its own, layered over .venv so that torch is not
# installed twice (scripts/layer_venv.py). Then: .venv-tflite/bin/dllab export RUN --format tflite
TFLITE_VENV ?= .venv-tflite
TFLITE_STAMP := $(TFLITE_VENV)/.installed

install-tflite: $(TFLITE_STAMP)

$(TFLITE_STAMP): $(STAMP) constraints-tflite.txt
	test -x $(TFLITE_VENV)/bin/python || $(BIN)/python -m venv $(TFLITE_VENV)
	$(BIN)/python scripts/layer_venv.py $(VENV) $(TFLITE_VENV)
	$(TFLITE_VENV)/bin/python -m pip install -q -c constraints-tflite.txt -e ".[tflite]"
	touch $(TFLITE_STAMP)

run: $(STAMP)
	$(BIN)/dllab run quickstart

# One pytest worker per core (pytest-xdist; CI has 2). loadgroup keeps the tests that share a
# costly fixture on one worker (tests/conftest.py). Each test has a time limit (pytest-timeout,
# pyproject.toml): a hung test fails with its name.
WORKERS ?= 2
test: $(STAMP) $(TFLITE_STAMP)
	$(BIN)/ruff check src tests benchmarks scripts $(wildcard lessons)
	DLLAB_TFLITE_PYTHON=$(TFLITE_VENV)/bin/python $(BIN)/python -m pytest -q -n $(WORKERS) --dist loadgroup --durations=10

# One at a time: these tests train to a target within a time budget. Longer time limit.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow --timeout 900

bench: $(STAMP)
	$(BIN)/python benchmarks/fashion_mnist_speed.py
	$(BIN)/python benchmarks/scratch_vs_torch.py
	$(BIN)/python benchmarks/gpt_kv_cache.py
	$(BIN)/python benchmarks/translation.py
	$(BIN)/python benchmarks/sdpa_cpu.py

# 3-5 hours on 2 cores: TF-IDF + LR against our models, 3 seeds, two fine-tunings of the
# encoder per seed (--members 2: the row bert+mlm-x2+fasttext+words, the best of ours). The
# pretraining runs it needs (char skip-gram, masked-LM encoder) are made once under
# runs/bench/ and kept, and so is every finished run: an interrupted bench resumes.
PRETRAINED = runs/bench
bench-sentiment: $(STAMP)
	test -f $(PRETRAINED)/skipgram-chars-zh/summary.json || { rm -rf $(PRETRAINED)/skipgram-chars-zh; \
	  $(BIN)/dllab run skipgram-chars-zh --run-dir $(PRETRAINED)/skipgram-chars-zh; }
	test -f $(PRETRAINED)/mlm-zh/summary.json || { rm -rf $(PRETRAINED)/mlm-zh; \
	  $(BIN)/dllab run mlm-zh --run-dir $(PRETRAINED)/mlm-zh; }
	$(BIN)/python benchmarks/sentiment_zh.py --embeddings $(PRETRAINED)/skipgram-chars-zh \
	  --encoder $(PRETRAINED)/mlm-zh --members 2 --runs $(PRETRAINED)/sentiment \
	  --json $(PRETRAINED)/sentiment.json

# Every lesson as a Jupyter notebook in notebooks/ (one that exists is kept; FORCE=1 replaces)
notebooks: $(STAMP)
	$(BIN)/python scripts/notebooks.py notebooks $(if $(FORCE),--force)

# pylint runs only its duplicate-code check: 5 or more repeated lines (imports, docstrings,
# comments and signatures aside) anywhere in the package fail, so shared logic gets one home.
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts $(wildcard lessons)
	$(BIN)/ruff format --check src tests benchmarks scripts $(wildcard lessons)
	$(BIN)/pylint --disable=all --enable=duplicate-code --min-similarity-lines=5 --score=n src/dllab

clean:
	rm -rf $(VENV) $(TFLITE_VENV) runs .pytest_cache .ruff_cache
