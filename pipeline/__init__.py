"""Pipeline definition, configuration, runners and the `audioclf` command line."""
import os

# tf_keras (Keras 2) is the Keras that trains with MultiWorkerMirroredStrategy here; the variable
# only works if it is set before TensorFlow is first imported, so every package of ours sets it.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
