"""Training end to end on real Examples: run_fn's `train`, the export's two signatures and TensorBoard
output (multi-worker training with two local processes is in worker_test.py)."""
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from sample_artifacts import write_examples  # tests/sample_artifacts.py
from trainer.config import TrainerConfig
from trainer import export, task
from trainer import input as input_lib

pytestmark = pytest.mark.slow

RATE, SECONDS = 8000, 1.0
SAMPLES = int(RATE * SECONDS)
TINY = TrainerConfig(n_fft=256, hop_length=128, n_mels=16, frame_length=8, frame_hop=4, conv_filters=[4, 4, 8, 8],
                     speaker_embedding=False,   # 8 kHz clips; the encoder takes 16 kHz (speaker_head_test.py)
                     dropout=0.1, batch_size_per_replica=4, epochs=3, patience=1, steps_per_epoch=3,
                     report_every_epochs=2, shuffle_buffer=16)


def settings(config=TINY):
    return task.TrainingSettings(trainer=config, sample_rate=RATE, clip_samples=SAMPLES,
                                 label_names=["male", "female"], audio_encoding="pcm16")


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    return write_examples(tmp_path_factory.mktemp("task"), RATE, SECONDS, {"train": 12, "eval": 6, "test": 4}).uri


@pytest.fixture(scope="module")
def trained(examples, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    model, result = task.train(settings(), [f"{examples}/Split-train/*"], [f"{examples}/Split-eval/*"],
                               str(out / "serving"), str(out / "run"))
    return model, result, out


def test_history_reports_and_tensorboard(trained):
    _, result, out = trained
    written = task.read_history(str(out / "run"))
    assert written["train_clips"] == 12 and written["eval_clips"] == 6 and written["steps_per_epoch"] == 3
    assert written["strategy"] == "_DefaultDistributionStrategy" and written["global_batch"] == 4
    assert 1 <= written["epochs_run"] <= 3 and 1 <= written["best_epoch"] <= written["epochs_run"]
    # Early stopping watched the eval loss (the default) and restored its best epoch: the final eval report
    # matches that epoch's eval accuracy.
    losses = written["history"][task.EVAL_LOSS]
    assert written["early_stopping_metric"] == "loss" and written["best_epoch"] == losses.index(min(losses)) + 1
    best_val = written["history"][task.EVAL_ACCURACY][written["best_epoch"] - 1]
    assert written["best_eval_accuracy"] == pytest.approx(best_val, abs=1e-6)
    eval_report = written["reports"]["eval"]
    assert eval_report["examples"] == 6 and np.sum(eval_report["confusion_matrix"]) == 6
    assert set(written["reports"]) == {"eval", "train"}
    tags = set()
    for path in tf.io.gfile.glob(str(out / "run" / "reports" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value)
    assert {"confusion_matrix/eval", "confusion_matrix/train", "classification_report/eval"} <= tags
    assert tf.io.gfile.glob(str(out / "run" / "train" / "events.out.tfevents.*"))  # Keras TensorBoard


def test_both_signatures_give_the_same_probabilities(trained, examples):
    model, _, out = trained
    loaded = tf.saved_model.load(str(out / "serving"))
    records = list(tf.data.TFRecordDataset(tf.io.gfile.glob(f"{examples}/Split-test/*"), compression_type="GZIP"))
    serialized = tf.stack(records)
    audio, _ = input_lib.parse_examples(serialized, "pcm16", SAMPLES)
    from_examples = loaded.signatures[export.SERVE_EXAMPLES](examples=serialized)[export.OUTPUT_KEY].numpy()
    from_audio = loaded.signatures[export.CLASSIFY_AUDIO](audio=audio)[export.OUTPUT_KEY].numpy()
    assert from_examples.shape == (4, 2)
    np.testing.assert_allclose(from_examples, from_audio, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_audio, model(audio, training=False).numpy(), rtol=1e-5, atol=1e-6)
    metadata = export.read_metadata(str(out / "serving"))
    assert metadata["sample_rate"] == RATE and metadata["clip_samples"] == SAMPLES
    assert metadata["trainer"]["n_mels"] == 16


def test_exported_model_loads_without_kapre(trained):
    _, _, out = trained
    code = ("import sys, os; os.environ['TF_USE_LEGACY_KERAS']='1'; sys.modules['kapre'] = None\n"
            "import numpy as np, tensorflow as tf\n"
            f"m = tf.saved_model.load({str(out / 'serving')!r})\n"
            f"p = m.signatures['classify_audio'](audio=tf.zeros([2, {SAMPLES}]))['probabilities'].numpy()\n"
            "assert p.shape == (2, 2), p.shape\n"
            "import importlib.util; assert 'kapre' not in [k for k, v in sys.modules.items() if v is not None]\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_weight_average_is_the_model_kept(examples, tmp_path):
    """weight_ema: all epochs run (nothing is restored) and the exported model is the averaged weights,
    whose final eval report is not one epoch's eval accuracy."""
    import dataclasses  # pylint: disable=import-outside-toplevel
    config = dataclasses.replace(TINY, weight_ema=0.5, patience=5, epochs=2)
    model, result = task.train(settings(config), [f"{examples}/Split-train/*"], [f"{examples}/Split-eval/*"],
                               str(tmp_path / "serving"), str(tmp_path / "run"))
    assert result["kept_weights"] == task.KEPT_AVERAGE and result["epochs_run"] == 2 and result["reports"]["eval"]["epoch"] == 2
    assert model.optimizer.use_ema
    loaded = tf.saved_model.load(str(tmp_path / "serving"))
    audio = tf.random.normal([2, SAMPLES]) * 0.1
    np.testing.assert_allclose(loaded.signatures[export.CLASSIFY_AUDIO](audio=audio)[export.OUTPUT_KEY].numpy(),
                               model(audio, training=False).numpy(), rtol=1e-5, atol=1e-6)
