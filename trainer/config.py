"""The `trainer` settings section: the model on raw audio (trainer/model.py) and its training
(trainer/task.py). The trainer owns its defaults."""
from dataclasses import dataclass, field
from typing import List

from components.common.errors import AudioClfError

# The accuracy metric the model is compiled with: the name of its value in the training history (and,
# with "val_", on the eval split), in TFMA's metrics and in summary.json.
ACCURACY_METRIC = "sparse_categorical_accuracy"


@dataclass
class TrainerConfig:
    """The model on raw audio (trainer/model.py) and its training (trainer/task.py)."""
    n_fft: int = 512            # 32 ms windows at 16 kHz
    hop_length: int = 256       # 16 ms between spectrogram frames
    n_mels: int = 64
    mel_f_max: float = 0.0      # top of the mel filter bank in Hz (0: half the sample rate)
    batch_norm_momentum: float = 0.99   # moving statistics over ~100 steps (0.9 swings: README, r5 vs r8)
    mel_f_min: float = 0.0      # bottom of the mel filter bank in Hz
    # What is subtracted from the dB mel spectrogram of each clip: "band_mean" each band's mean over time
    # (removes a fixed recording-channel response, but also the long-term spectral envelope, a gender
    # cue); "max" the clip's loudest value (gain invariance only; the envelope stays); "none".
    normalization: str = "max"
    # SpecAugment-style masking while training (0: off): this many time masks of up to time_mask_frames
    # frames and frequency masks of up to freq_mask_bins mel bands, each set to the clip's mean.
    time_masks: int = 2
    time_mask_frames: int = 20
    freq_masks: int = 2
    freq_mask_bins: int = 8
    # A third input channel beside mel and delta: a cepstral pitch map computed in the graph
    # (trainer/model.py CepstralPitch), so that the model sees the voice's F0 at a few Hz resolution.
    pitch_channel: bool = True
    # The clip's F0 distribution (trainer/model.py PitchHistogram, in the graph) fed to the softmax layer
    # beside the pooled conv features: the evidence the median-F0 rule uses, on which a threshold is linear
    # (README, "Model quality": r9 -> r10, 0.902 -> 0.926 in the cross-validation).
    pitch_histogram: bool = True
    # Pooling after the last conv block: "max" (the post) or "avg" over time and frequency; "time_max" or
    # "time_avg" over time only, keeping where in frequency each filter fired (pitch, formants).
    pooling: str = "time_avg"
    label_smoothing: float = 0.1
    delta_win_length: int = 5   # frames used by the delta (must be odd)
    frame_length: int = 64      # spectrogram frames per segment (~1 s at the defaults)
    frame_hop: int = 32         # half-overlapping segments
    conv_filters: List[int] = field(default_factory=lambda: [16, 32, 64, 64])  # four Conv3D blocks
    kernel_size: List[int] = field(default_factory=lambda: [3, 3, 3])
    dropout: float = 0.2
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    # "constant", or "cosine": decays to 1 % of learning_rate over epochs x steps per epoch.
    lr_schedule: str = "cosine"
    # Exponential moving average of the weights (momentum per step; 0: off). The model kept is the
    # average, not one epoch's weights: early stopping then only stops, it restores nothing.
    weight_ema: float = 0.0
    batch_size_per_replica: int = 16
    epochs: int = 12
    # 0: one pass over the train split per epoch (its examples are counted at the start of training).
    steps_per_epoch: int = 0
    patience: int = 4           # early stopping: epochs without a better eval value of early_stopping_metric
    # What early stopping watches on the eval clips, and which epoch's weights it restores: "loss" (eval
    # cross-entropy) or "accuracy". 200 eval clips make accuracy move in 0.5-point steps and tie often, and
    # it swings between epochs; the loss is a smoother signal (README, "Model quality", r8 vs r9).
    early_stopping_metric: str = "loss"
    # tf.data cache of parsed clips: "memory", "" (none) or a path prefix for an on-disk cache.
    cache: str = "memory"
    shuffle_buffer: int = 512
    # Confusion-matrix images and the classification report go to TensorBoard every this many epochs.
    report_every_epochs: int = 1
    seed: int = 11

    def validate(self) -> None:
        """Refuses settings that cannot work, naming the setting and what to change."""
        if len(self.conv_filters) != 4 or len(self.kernel_size) != 3:
            raise AudioClfError("config: trainer.conv_filters needs 4 values (one per block) and trainer.kernel_size 3.")
        if self.normalization not in ("band_mean", "max", "none"):
            raise AudioClfError(f"config: trainer.normalization={self.normalization!r}; use band_mean, max or none.")
        if self.lr_schedule not in ("constant", "cosine"):
            raise AudioClfError(f"config: trainer.lr_schedule={self.lr_schedule!r}; use constant or cosine.")
        if self.pooling not in ("max", "avg", "time_max", "time_avg"):
            raise AudioClfError(f"config: trainer.pooling={self.pooling!r}; use max, avg, time_max or time_avg.")
        if self.early_stopping_metric not in ("loss", "accuracy"):
            raise AudioClfError(f"config: trainer.early_stopping_metric={self.early_stopping_metric!r}; use loss or accuracy.")
        if not 0.0 <= self.weight_ema < 1.0:
            raise AudioClfError(f"config: trainer.weight_ema={self.weight_ema} must be within [0, 1) (0: off; e.g. 0.99).")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise AudioClfError("config: trainer.label_smoothing must be within [0, 1).")
        if min(self.time_masks, self.freq_masks, self.time_mask_frames, self.freq_mask_bins) < 0:
            raise AudioClfError("config: trainer.time_masks, freq_masks, time_mask_frames and freq_mask_bins must be >= 0.")
        if self.delta_win_length < 3 or self.delta_win_length % 2 == 0:
            raise AudioClfError("config: trainer.delta_win_length must be an odd number >= 3.")
        for name in ("batch_size_per_replica", "epochs", "patience", "report_every_epochs", "shuffle_buffer"):
            if getattr(self, name) < 1:
                raise AudioClfError(f"config: trainer.{name} must be >= 1, got {getattr(self, name)}.")
        if self.steps_per_epoch < 0:
            raise AudioClfError("config: trainer.steps_per_epoch must be >= 0 (0: one pass over the train split).")
