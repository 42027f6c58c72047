# The two commands of the README. Both set up .venv first (scripts/setup.sh) if needed.
OUTPUT ?= output/demo

.PHONY: demo test setup kubeflow

setup:
	@scripts/setup.sh

# The main job: the local pipeline (LocalDagRunner) on the four bundled corpora (data/).
demo: setup
	.venv/bin/audioclf run --output $(OUTPUT)

# Every test (unit, executor and end-to-end); CI runs exactly this.
test: setup
	.venv/bin/python -m pytest -q

# The Kubeflow Pipelines spec for the example cluster config (kubeflow/README.md): compiled offline.
kubeflow: setup
	.venv/bin/audioclf compile --config kubeflow/retraining.yaml --output output/kubeflow/pipeline.yaml
