"""The `trainer` settings section: the model on raw audio (trainer/model.py) and its training
(trainer/task.py). The trainer owns its defaults."""
from dataclasses import dataclass
from typing import ClassVar, List

from components.common.errors import AudioClfError
from components.common.settings import SEED_MAX, setting

# The accuracy metric the model is compiled with: the name of its value in the training history (and,
# with "val_", on the eval split), in TFMA's metrics and in summary.json.
ACCURACY_METRIC = "sparse_categorical_accuracy"
# The only rate the pretrained speaker encoder (trainer/speaker_encoder.py) takes.
SPEAKER_ENCODER_SAMPLE_RATE = 16000
# trainer.speaker_embedding_fit_clips: every single-speaker train clip, or only the crops of real utterances.
FIT_CLIPS = ("single_speaker", "crops")
# trainer.speaker_head_balance: the speaker head's fit rows as drawn, or weighted so every train speaker
# weighs the same.
HEAD_BALANCE = ("none", "speaker")
# trainer.speaker_embedding_encoder: the pretrained encoder, or a student distilled from it while training.
ENCODERS = ("ge2e", "distilled")


@dataclass
class TrainerConfig:
    """The model on raw audio (trainer/model.py) and its training (trainer/task.py)."""
    SECTION: ClassVar[str] = "trainer"   # its name in the config, in messages
    # Limits: each numeric setting's range is declared with it (components/common/settings.py `setting`);
    # cross-field rules are in validate(), those involving the synthesis section in pipeline/config.py.
    n_fft: int = setting(512, low=16, high=16384)            # 32 ms windows at 16 kHz; at most a clip
    hop_length: int = setting(256, low=1, high=16384)        # 16 ms between spectrogram frames; at most n_fft
    n_mels: int = setting(64, low=1, high=512)
    # Top of the mel filter bank in Hz (0: half the sample rate; at most half the sample rate).
    mel_f_max: float = setting(0.0, low=0.0, high=96000.0)
    # Moving statistics over ~100 steps (0.9 swings: README, r5 vs r8).
    batch_norm_momentum: float = setting(0.99, low=0.0, below=1.0)
    # The normalization after each conv block: "batch" (the post's; moving statistics of the training
    # batches are used at predict time) or "group" (each clip normalized by its own statistics over
    # conv_norm_groups groups of channels, the same in training and at predict time).
    conv_norm: str = "batch"
    conv_norm_groups: int = setting(4, low=1, high=4096)   # must divide every trainer.conv_filters value
    mel_f_min: float = setting(0.0, low=0.0, high=96000.0)   # bottom of the mel filter bank in Hz
    # What is subtracted from the dB mel spectrogram of each clip: "band_mean" each band's mean over time
    # (removes a fixed recording-channel response, but also the long-term spectral envelope, a gender
    # cue); "max" the clip's loudest value (gain invariance only; the envelope stays); "none".
    normalization: str = "max"
    # SpecAugment-style masking while training (0: off): this many time masks of up to time_mask_frames
    # frames and frequency masks of up to freq_mask_bins mel bands, each set to the clip's mean.
    time_masks: int = setting(2, low=0, high=100)
    time_mask_frames: int = setting(20, low=0, high=100000)
    freq_masks: int = setting(2, low=0, high=100)
    freq_mask_bins: int = setting(8, low=0, high=512)
    # A third input channel beside mel and delta: a cepstral pitch map computed in the graph
    # (trainer/model.py CepstralPitch), so that the model sees the voice's F0 at a few Hz resolution.
    pitch_channel: bool = True
    # The clip's F0 distribution (trainer/model.py PitchHistogram, in the graph) fed to the softmax layer
    # beside the pooled conv features: the evidence the median-F0 rule uses, on which a threshold is linear
    # (README, "Model quality": r9 -> r10, 0.902 -> 0.926 in the cross-validation).
    pitch_histogram: bool = True
    # A pretrained speaker encoder beside the conv model (trainer/speaker_encoder.py: Resemblyzer's GE2E
    # network, frozen; 16 kHz audio only) and a linear head on its 256-d embedding whose logits are added to
    # the conv model's. The head is "fitted" (the default, recipe r25: k-fold 0.940 where r10 without it
    # scored 0.926, README "Model quality"): the conv model is trained alone, then a logistic regression (L2,
    # speaker_embedding_c as sklearn's C) is fitted on the standardized embeddings of the single-speaker
    # train clips and frozen into the exported model, its logits times speaker_embedding_weight added to the
    # conv model's log-probabilities (trainer/speaker_head.py). Or "trained" together with the conv head by
    # model.fit, on an embedding standardized by a batch norm, with L2 weight decay speaker_embedding_l2
    # (recipes r23, r24: no better than r10).
    speaker_embedding: bool = True
    speaker_embedding_l2: float = setting(0.1, low=0.0, high=1000.0)
    speaker_embedding_head: str = "fitted"
    speaker_embedding_c: float = setting(0.001, above=0.0, high=1e6)
    speaker_embedding_weight: float = setting(2.0, above=0.0, high=100.0)
    # The train clips the fitted head is fitted on: "single_speaker" (crops of real utterances and the
    # one-speaker mixtures, whose utterances play at a random speed that moves F0 and formants; r25, r26)
    # or "crops" (only the crops: real utterances at their own speed, as `predict` hears them).
    speaker_embedding_fit_clips: str = "single_speaker"
    # The encoder's windows: `window_frames` mel frames (10 ms each) per window, one every `window_step`
    # frames. Resemblyzer's are 160 every 77 (r23, r24); the default (r25, r26) is 160 every 160, windows
    # that do not overlap. Each frame of a window is a sequential LSTM step, which sets the encoder's time at
    # predict's 1-3 clips per call: 40 every 80 (recipe r30: five 0.4 s windows per 4 s clip) took predict
    # from 240x to 397x real time end to end, but scored 0.2-0.9 points under r26 on three k-fold seeds,
    # most of it on speechocean762 (README, "Shorter encoder windows"), so it is an option, not the default.
    speaker_embedding_window_step: int = setting(160, low=1, high=160)
    speaker_embedding_window_frames: int = setting(160, low=20, high=160)
    # The encoder the fitted head reads and the exported model carries: "ge2e" (the pretrained one) or
    # "distilled": a smaller student (trainer/speaker_student.py: two 1-D convolutions and a GRU over 40
    # steps) trained after the conv model, on the train clips' windows only, to give each window the
    # GE2E embedding; 7-12x faster at predict's 1-3 clips per call, speaker_student_epochs of training
    # (15, recipe r32: 0.2-0.6 points under r26 on three k-fold seeds, at the rule rather than above it on
    # speechocean762 left out, predict 649x real time where r26 runs 247x; README, "A distilled encoder"),
    # so an option for throughput, not the default.
    speaker_embedding_encoder: str = "ge2e"
    speaker_student_epochs: int = setting(15, low=1, high=1000)
    # Perturbed copies of every train clip added to the student's distillation windows (0: the clips only, as
    # r32): each copy at another speed (voice) and through another random channel (EQ, telephone band, noise),
    # the teacher's embedding of the changed audio as its target (trainer/distill_augment.py). Recipe r33 (2
    # copies, 8 epochs): speechocean762 left out of training 0.912/0.913 in two runs where r32 scored
    # 0.876/0.896 and r26 0.899/0.909 (README, "The student on perturbed copies"); distillation takes about
    # 300 s instead of 100-150.
    speaker_student_copies: int = setting(0, low=0, high=20)
    # Perturbed copies of the single-speaker train clips added to those the speaker head is fitted on, each
    # labelled as its clip: the channel changes as for the student (EQ, telephone band, noise) but not the
    # speed, which would move F0 and formants, the cues of the label (0: the clips only, as r26). Recipe r34,
    # the default since 2026-12-04: +0.1 to +0.3 over r26 on three k-fold seeds, speechocean762 left out of
    # training above r26 in all four pairings (README, "The head on perturbed copies"); the head's fit
    # embeds three times the clips (44.5 s for 3759 in a demo run). Unused when no head is fitted.
    speaker_head_copies: int = setting(2, low=0, high=20)
    # How the speaker head's fit rows are weighted: "none" (each clip and copy 1, as synthesis drew them: a
    # speaker weighs as often as they were drawn) or "speaker" (each train speaker's clips and copies share
    # the same total; mean 1). Replayed on kept models (bench/head_refit.py, README "Refitting the head on
    # other data", "Recipe r36"): +0.6 and +0.4 over "none" with a corpus left out, +0.0 / +0.0 / -0.3 on
    # three k-fold seeds; not the default by r36's rule.
    speaker_head_balance: str = "none"
    # While training, the conv head's logits are dropped on this share of the clips and the speaker head's
    # on this share of the others, so each head also learns to decide alone, as a classifier of its own,
    # instead of the speaker head fitting only what the conv head leaves over (0: off). Predict uses both.
    head_dropout: float = setting(0.0, low=0.0, below=1.0, note="0: off; e.g. 0.5")
    # Pooling after the last conv block: "max" (the post) or "avg" over time and frequency; "time_max" or
    # "time_avg" over time only, keeping where in frequency each filter fired (pitch, formants).
    pooling: str = "time_avg"
    label_smoothing: float = setting(0.1, low=0.0, below=1.0)
    # Speaker-adversarial training (trainer/adversary.py; 0: off): a head guesses each train clip's speakers
    # from the pooled conv features, and its gradient reaches the conv blocks reversed and scaled by this
    # (ramped up from 0 over training), so the features that decide gender are pushed to carry no voice
    # identity. Training only: the exported model is the classifier alone. Speakers are hashed into
    # speaker_buckets classes (collisions between a few of ~300 speakers do not matter to the adversary).
    speaker_adversary: float = setting(0.0, low=0.0, high=100.0, note="0: off; e.g. 0.1")
    speaker_buckets: int = setting(1024, low=2, high=1 << 20)
    speaker_head_units: int = setting(128, low=1, high=65536)   # the adversary's hidden layer
    delta_win_length: int = setting(5, low=3, high=99)  # frames used by the delta (must be odd)
    frame_length: int = setting(64, low=1, high=100000)     # spectrogram frames per segment (~1 s at the defaults)
    frame_hop: int = setting(32, low=1, high=100000)        # half-overlapping segments
    conv_filters: List[int] = setting(factory=lambda: [16, 32, 64, 64], low=1, high=4096)  # four Conv3D blocks
    kernel_size: List[int] = setting(factory=lambda: [3, 3, 3], low=1, high=31)
    dropout: float = setting(0.2, low=0.0, below=1.0)
    optimizer: str = "adam"
    learning_rate: float = setting(1e-3, above=0.0, high=10.0)
    # "constant", or "cosine": decays to 1 % of learning_rate over epochs x steps per epoch.
    lr_schedule: str = "cosine"
    # Exponential moving average of the weights (momentum per step; 0: off). The model kept is the
    # average, not one epoch's weights: early stopping then only stops, it restores nothing.
    weight_ema: float = setting(0.0, low=0.0, below=1.0, note="0: off; e.g. 0.99")
    batch_size_per_replica: int = setting(16, low=1, high=65536)
    # 5 since recipe r26: r25's early stopping kept epoch 1-8 of 12, and 5 epochs scored the same over
    # three k-fold seeds while bounding the demo's training (README, "Model quality", r26).
    epochs: int = setting(5, low=1, high=100000)
    # 0: one pass over the train split per epoch (its examples are counted at the start of training).
    steps_per_epoch: int = setting(0, low=0, high=10 ** 9, note="0: one pass over the train split")
    patience: int = setting(4, low=1, high=100000)   # early stopping: epochs without a better eval value
    # What early stopping watches on the eval clips, and which epoch's weights it restores: "loss" (eval
    # cross-entropy) or "accuracy". 200 eval clips make accuracy move in 0.5-point steps and tie often, and
    # it swings between epochs; the loss is a smoother signal (README, "Model quality", r8 vs r9).
    early_stopping_metric: str = "loss"
    # tf.data cache of parsed clips: "memory", "" (none) or a path prefix for an on-disk cache.
    cache: str = "memory"
    shuffle_buffer: int = setting(512, low=1, high=10 ** 7)
    # Confusion-matrix images and the classification report go to TensorBoard every this many epochs.
    report_every_epochs: int = setting(1, low=1, high=100000)
    seed: int = setting(11, low=0, high=SEED_MAX)

    @property
    def fitted_speaker_head(self) -> bool:
        """The speaker encoder is on and its head is fitted after training (trainer/speaker_head.py), not trained."""
        return self.speaker_embedding and self.speaker_embedding_head == "fitted"

    def check_sample_rate(self, sample_rate: int) -> None:
        """Refuses the speaker encoder at any rate but the one it was trained on."""
        if self.speaker_embedding and sample_rate != SPEAKER_ENCODER_SAMPLE_RATE:
            raise AudioClfError(f"config: trainer.speaker_embedding=true needs synthesis.sample_rate="
                                f"{SPEAKER_ENCODER_SAMPLE_RATE} (the pretrained speaker encoder's rate), not {sample_rate}; "
                                f"set synthesis.sample_rate={SPEAKER_ENCODER_SAMPLE_RATE} or trainer.speaker_embedding=false.")

    def validate(self) -> None:
        """Refuses settings that cannot work, naming the setting and what to change."""
        if len(self.conv_filters) != 4 or len(self.kernel_size) != 3:
            raise AudioClfError("config: trainer.conv_filters needs 4 values (one per block) and trainer.kernel_size 3.")
        if self.normalization not in ("band_mean", "max", "none"):
            raise AudioClfError(f"config: trainer.normalization={self.normalization!r}; use band_mean, max or none.")
        if self.conv_norm not in ("batch", "group"):
            raise AudioClfError(f"config: trainer.conv_norm={self.conv_norm!r}; use batch or group.")
        if self.conv_norm == "group" and any(f % self.conv_norm_groups for f in self.conv_filters):
            raise AudioClfError(f"config: trainer.conv_norm_groups={self.conv_norm_groups} does not divide every "
                                f"trainer.conv_filters value {self.conv_filters}; pick a common divisor.")
        if self.lr_schedule not in ("constant", "cosine"):
            raise AudioClfError(f"config: trainer.lr_schedule={self.lr_schedule!r}; use constant or cosine.")
        if self.pooling not in ("max", "avg", "time_max", "time_avg"):
            raise AudioClfError(f"config: trainer.pooling={self.pooling!r}; use max, avg, time_max or time_avg.")
        if self.early_stopping_metric not in ("loss", "accuracy"):
            raise AudioClfError(f"config: trainer.early_stopping_metric={self.early_stopping_metric!r}; use loss or accuracy.")
        if self.speaker_embedding_head not in ("trained", "fitted"):
            raise AudioClfError(f"config: trainer.speaker_embedding_head={self.speaker_embedding_head!r}; use trained or fitted.")
        if self.speaker_embedding_fit_clips not in FIT_CLIPS:
            raise AudioClfError(f"config: trainer.speaker_embedding_fit_clips={self.speaker_embedding_fit_clips!r}; "
                                f"use {' or '.join(FIT_CLIPS)}.")
        if self.speaker_head_balance not in HEAD_BALANCE:
            raise AudioClfError(f"config: trainer.speaker_head_balance={self.speaker_head_balance!r}; "
                                f"use {' or '.join(HEAD_BALANCE)}.")
        if self.speaker_embedding_encoder not in ENCODERS:
            raise AudioClfError(f"config: trainer.speaker_embedding_encoder={self.speaker_embedding_encoder!r}; "
                                f"use {' or '.join(ENCODERS)}.")
        if self.speaker_embedding_encoder == "distilled" and not self.fitted_speaker_head:
            raise AudioClfError("config: trainer.speaker_embedding_encoder=distilled distills the student after the "
                                "conv model is trained, for the fitted head; set trainer.speaker_embedding=true and "
                                "speaker_embedding_head=fitted, or speaker_embedding_encoder=ge2e.")
        if self.speaker_embedding_encoder == "distilled" and self.speaker_embedding_window_frames != 160:
            raise AudioClfError(f"config: trainer.speaker_embedding_encoder=distilled reads 160-frame windows, not "
                                f"speaker_embedding_window_frames={self.speaker_embedding_window_frames}; set it to 160.")
        if self.speaker_student_copies and self.speaker_embedding_encoder != "distilled":
            raise AudioClfError(f"config: trainer.speaker_student_copies={self.speaker_student_copies} adds copies to a "
                                f"student's distillation, and speaker_embedding_encoder={self.speaker_embedding_encoder!r} "
                                "distills none; set speaker_embedding_encoder=distilled or speaker_student_copies=0.")
        if self.head_dropout and not self.speaker_embedding:
            raise AudioClfError(f"config: trainer.head_dropout={self.head_dropout:g} drops one of two heads, and without "
                                f"trainer.speaker_embedding=true the model has one; set both or head_dropout=0.")
        if self.head_dropout and self.speaker_embedding_head == "fitted":
            raise AudioClfError(f"config: trainer.head_dropout={self.head_dropout:g} drops heads while they train "
                                "together, and a fitted speaker head is not trained with the conv head; set "
                                "head_dropout=0 or speaker_embedding_head=trained.")
        if self.delta_win_length % 2 == 0:
            raise AudioClfError(f"config: trainer.delta_win_length={self.delta_win_length} must be an odd number >= 3.")
        if self.hop_length > self.n_fft:
            raise AudioClfError(f"config: trainer.hop_length={self.hop_length} is above trainer.n_fft={self.n_fft}: "
                                f"samples between windows would be skipped; use a hop of at most n_fft.")
        if self.frame_hop > self.frame_length:
            raise AudioClfError(f"config: trainer.frame_hop={self.frame_hop} is above trainer.frame_length="
                                f"{self.frame_length}: frames between segments would be skipped.")
        if self.mel_f_max and self.mel_f_max <= self.mel_f_min:
            raise AudioClfError(f"config: trainer.mel_f_max={self.mel_f_max:g} must be above trainer.mel_f_min="
                                f"{self.mel_f_min:g} (or 0: half the sample rate).")
