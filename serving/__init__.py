"""The model server: a KServe `ModelServer` that classifies recordings with a pushed SavedModel through
`trainer.classifier.Classifier`, the code path of `audioclf predict`.

It runs from its own environment (`.venv-serving`, requirements/serving-lock.txt): kserve needs newer
packages than TFX 1.16 allows beside it, and a server needs neither TFX nor Beam. So nothing here may
import TFX, Beam or `pipeline/` (tests/layers_test.py); `audioclf serve` starts it in that environment.
"""
