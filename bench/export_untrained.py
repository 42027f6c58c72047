"""A model of a recipe's structure with untrained weights, exported as the Trainer exports one, for speed
measurements only (bench_predict.py times a model's structure; what its weights say does not matter).

Run:  .venv/bin/python -m bench.export_untrained --config bench/recipes/r23.yaml --out /tmp/untrained-r23
      .venv/bin/python bench/bench_predict.py --model /tmp/untrained-r23 --long-seconds 120 --files 40 --repeats 3
"""
import argparse
import sys
from typing import Optional, Sequence

import numpy as np

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from components.audio_synthesis.config import clip_samples
from pipeline import config as config_lib
from trainer import export, model as model_lib, speaker_encoder, speaker_head, speaker_student
from trainer.speaker_encoder import UNITS


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=None, help="a recipe or config file (default: the default config)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--out", required=True, help="the folder to export into")
    args = parser.parse_args(argv)
    config = config_lib.load_config(args.config, args.set)
    samples, names = clip_samples(config.synthesis), config_lib.label_names(config)
    model = model_lib.build_model(config.trainer, config.synthesis.sample_rate, samples, num_classes=len(names))
    if config.trainer.fitted_speaker_head:
        # The head the Trainer would fit after training, with zero weights: the same graph, the same cost.
        if config.trainer.speaker_embedding_encoder == "distilled":   # the student the Trainer would distill
            encoder = speaker_student.StudentEmbedding(samples, window_step=config.trainer.speaker_embedding_window_step,
                                                       name=speaker_student.LAYER_NAME)
        else:
            encoder = speaker_encoder.for_trainer(config.trainer, samples)
        model = speaker_head.attach(model, encoder, speaker_head.LinearHead(
            np.zeros(UNITS), np.ones(UNITS), np.zeros((UNITS, len(names))), np.zeros(len(names))), 1.0)
    export.save(model, args.out, config.examples.audio_encoding, config.synthesis.sample_rate, samples, names,
                config.trainer.__dict__)
    print(f"untrained model of {args.config or 'the default config'} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
