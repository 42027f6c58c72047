# The two commands of the README. Both set up .venv first (scripts/setup.sh) if needed.
OUTPUT ?= output/demo

.PHONY: demo test test-fast lint setup kubeflow

setup:
	@scripts/setup.sh

# The main job: the local pipeline (LocalDagRunner) on the four bundled corpora (data/).
demo: setup
	.venv/bin/audioclf run --output $(OUTPUT)

# Every test (unit, executor, end-to-end and the benchmarks' smoke runs) and the linter; CI runs exactly this.
test: setup lint
	.venv/bin/python -m pytest -q

# The unit tier for everyday work (under 2 minutes): no pipeline runs, no training beyond a few steps,
# no multi-worker or Beam multi-process runs, no benchmarks (pytest markers in pyproject.toml).
test-fast: setup
	.venv/bin/python -m pytest -q -m "not e2e and not slow and not bench"

# ruff with the settings in pyproject.toml.
lint: setup
	.venv/bin/ruff check .

# The Kubeflow Pipelines spec for the example cluster config (kubeflow/README.md): compiled offline.
kubeflow: setup
	.venv/bin/audioclf compile --config kubeflow/retraining.yaml --output output/kubeflow/pipeline.yaml
