# The two commands of the README. Both set up .venv first (scripts/setup.sh) if needed.
OUTPUT ?= output/demo

.PHONY: demo test test-fast lint setup kubeflow image image-tools test-image embedding-venv

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

# PyTorch and Resemblyzer for bench/speaker_embeddings.py (a check, not part of the product; bench/README.md).
embedding-venv:
	@test -x .venv-embedding/bin/python || python3 -m venv .venv-embedding
	.venv-embedding/bin/pip install -q -r requirements/embedding.txt

# ---- Images (docker/README.md) --------------------------------------------------------------------
# Docker when an engine answers, else buildah (daemonless; installed here with apt when missing).
ENGINE ?= $(shell docker info >/dev/null 2>&1 && echo docker || echo buildah)
VERSION := $(shell sed -nE 's/^VERSION[[:space:]]*=[[:space:]]*"([^"]+)"[[:space:]]*$$/\1/p' setup.py)
IMAGE_REPO ?= ghcr.io/audioclf/audioclf

image-tools:
	@if [ "$(ENGINE)" = buildah ]; then scripts/system_packages.sh buildah=buildah mmdebstrap=mmdebstrap; fi

# The pipeline image (CPU and GPU variants) and the model server's image; IMAGES="main serving" builds fewer.
IMAGES ?= main gpu serving
image: image-tools
	@for name in $(IMAGES); do \
	  case $$name in \
	    main) args="--image main --variant cpu" ;; gpu) args="--image main --variant gpu" ;; \
	    serving) args="--image serving" ;; *) echo "make image: unknown image $$name (main, gpu, serving)" >&2; exit 2 ;; \
	  esac; \
	  IMAGE_REPO=$(IMAGE_REPO) docker/build.sh --engine $(ENGINE) $$args || exit 1; \
	done

# Builds the images, then runs the compiled SpeakerIndexGen step, a training step, predict, the CUDA
# check and the model server inside them (docker/image_test.py); an image not in IMAGES is skipped.
test-image: setup image
	AUDIOCLF_IMAGE_ENGINE=$(ENGINE) \
	$(if $(filter main,$(IMAGES)),AUDIOCLF_IMAGE=$(IMAGE_REPO):$(VERSION)) \
	$(if $(filter gpu,$(IMAGES)),AUDIOCLF_GPU_IMAGE=$(IMAGE_REPO):$(VERSION)-gpu) \
	$(if $(filter serving,$(IMAGES)),AUDIOCLF_SERVING_IMAGE=$(IMAGE_REPO)-serving:$(VERSION)) \
	  .venv/bin/python -m pytest -q -rs -m image docker/image_test.py
