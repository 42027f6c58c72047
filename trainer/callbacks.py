"""Training callbacks beyond Keras' own: confusion matrices and classification reports in TensorBoard.

Every `every` epochs (and after the last), the model classifies each named dataset (eval, and a
sample of train); the confusion matrix goes to TensorBoard as an image and the sklearn classification
report as text. Under a multi-worker strategy every worker classifies (the model's variables are
synchronised with collective ops, so all workers must make the same calls); only the chief, the one
with a `log_dir`, writes.
"""
import io
import logging
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from sklearn import metrics as sk_metrics

log = logging.getLogger(__name__)


def predict_labels(call, dataset: tf.data.Dataset):
    """(true labels, predicted labels) of `dataset`; `call` maps an audio batch to probabilities."""
    y_true, y_pred = [], []
    for audio, labels in dataset:
        y_true.append(labels.numpy())
        y_pred.append(np.argmax(call(audio).numpy(), axis=1))
    return np.concatenate(y_true), np.concatenate(y_pred)


def confusion_matrix_png(matrix: np.ndarray, label_names: List[str], title: str) -> bytes:
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # pylint: disable=import-outside-toplevel

    figure, axes = plt.subplots(figsize=(3.2 + 0.6 * len(label_names), 2.8 + 0.6 * len(label_names)))
    axes.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(label_names))
    axes.set(xticks=ticks, yticks=ticks, xticklabels=label_names, yticklabels=label_names,
             xlabel="predicted", ylabel="true", title=title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        axes.text(j, i, str(value), ha="center", va="center", color="white" if value > threshold else "black")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


class ClassificationReports(tf.keras.callbacks.Callback):
    """Confusion-matrix images and classification reports for each dataset, to TensorBoard."""

    def __init__(self, log_dir: Optional[str], datasets: Dict[str, tf.data.Dataset], label_names: List[str],
                 every: int, total_epochs: int):
        super().__init__()
        self.datasets = datasets
        self.label_names = label_names
        self.every = every
        self.total_epochs = total_epochs
        self.writer = tf.summary.create_file_writer(log_dir) if log_dir else None
        self.latest: Dict[str, dict] = {}  # dataset name -> report dict of the latest reported epoch
        self._call = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 != self.total_epochs:
            return
        self.report(epoch)

    def use_model(self, model: tf.keras.Model) -> None:
        """Reports from now on are on `model` (e.g. the trained model with a head added after fit)."""
        self.set_model(model)
        self._call = None

    def report(self, epoch: int, title: Optional[str] = None) -> Dict[str, dict]:
        """Reports at TensorBoard step epoch + 1; `title` names the weights (default "epoch N") in the image and
        the log line, so the final report on the kept model does not read as one more epoch."""
        labels = list(range(len(self.label_names)))
        if self._call is None:  # traced once, reused by every report
            model = self.model
            self._call = tf.function(lambda audio: model(audio, training=False), reduce_retracing=True)
        for name, dataset in self.datasets.items():
            y_true, y_pred = predict_labels(self._call, dataset)
            matrix = sk_metrics.confusion_matrix(y_true, y_pred, labels=labels)
            text = sk_metrics.classification_report(y_true, y_pred, labels=labels, target_names=self.label_names,
                                                    digits=4, zero_division=0)
            self.latest[name] = {"epoch": epoch + 1, "examples": int(len(y_true)),
                                 "accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else None,
                                 "confusion_matrix": matrix.tolist(),
                                 "report": sk_metrics.classification_report(
                                     y_true, y_pred, labels=labels, target_names=self.label_names,
                                     output_dict=True, zero_division=0)}
            if self.writer is not None:
                png = confusion_matrix_png(matrix, self.label_names, f"{name}, {title or f'epoch {epoch + 1}'}")
                with self.writer.as_default():
                    tf.summary.image(f"confusion_matrix/{name}", tf.image.decode_png(png)[tf.newaxis], step=epoch + 1)
                    # Indented by four spaces: TensorBoard renders text as markdown, this keeps the table.
                    tf.summary.text(f"classification_report/{name}",
                                    "\n".join("    " + line for line in text.splitlines()), step=epoch + 1)
                self.writer.flush()
            log.info("%s, %s (%d clips): accuracy %.4f", title or f"epoch {epoch + 1}", name, len(y_true),
                     self.latest[name]["accuracy"] or 0.0)
        return self.latest
