"""ClassificationReports: what each report records and how its log line names the weights reported on."""
import logging

import numpy as np
import tensorflow as tf

from trainer.callbacks import ClassificationReports


def _reports():
    # A fixed linear model on 2 features: class 1 when the second feature is larger.
    inputs = tf.keras.Input((2,))
    model = tf.keras.Model(inputs, tf.keras.layers.Softmax()(inputs))
    x = np.array([[1, 0], [0, 1], [2, 0], [0, 3], [1, 2]], np.float32)
    y = np.array([0, 1, 0, 1, 0], np.int64)   # the last one is misclassified
    reports = ClassificationReports(None, {"eval": tf.data.Dataset.from_tensor_slices((x, y)).batch(2)},
                                    ["male", "female"], every=1, total_epochs=3)
    reports.set_model(model)
    return reports


def test_an_epoch_report_counts_and_logs_the_epoch(caplog):
    with caplog.at_level(logging.INFO, logger="trainer.callbacks"):
        latest = _reports().report(1)
    assert latest["eval"]["epoch"] == 2 and latest["eval"]["examples"] == 5
    assert latest["eval"]["accuracy"] == 0.8 and latest["eval"]["confusion_matrix"] == [[2, 1], [0, 2]]
    assert "epoch 2, eval (5 clips): accuracy 0.8000" in caplog.messages


def test_the_final_report_is_logged_under_its_title_not_as_one_more_epoch(caplog):
    with caplog.at_level(logging.INFO, logger="trainer.callbacks"):
        _reports().report(3, title="best weights (epoch 2) + fitted speaker head")
    ours = [r.getMessage() for r in caplog.records if r.name == "trainer.callbacks"]
    assert ours == ["best weights (epoch 2) + fitted speaker head, eval (5 clips): accuracy 0.8000"]
