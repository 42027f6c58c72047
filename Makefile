# The two commands of the README. Both set up .venv first (scripts/setup.sh) if needed.
OUTPUT ?= output/demo

.PHONY: demo test setup

setup:
	@scripts/setup.sh

# The main job: the local pipeline (LocalDagRunner) on the bundled LibriSpeech corpus.
demo: setup
	.venv/bin/audioclf run --output $(OUTPUT)

# Every test (unit, executor and end-to-end); CI runs exactly this.
test: setup
	.venv/bin/python -m pytest -q
