"""The pictures of report.html, each returned as a PNG data URI so that the page needs no other file.

Figures are drawn on matplotlib's Agg canvas (no display, no pyplot state shared between figures) and
saved without a timestamp or software tag, so the same run gives byte-identical pictures: `audioclf
report` rebuilds the same page that `audioclf run` wrote.
"""
import base64
import io
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

# librosa.display imports pyplot: pin the headless backend before it does.
matplotlib.use("Agg")

import numpy as np  # noqa: E402  pylint: disable=wrong-import-position
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402  pylint: disable=wrong-import-position
from matplotlib.figure import Figure  # noqa: E402  pylint: disable=wrong-import-position

from trainer.config import ACCURACY_METRIC  # noqa: E402

TRAIN_COLOR = "#3b6fb6"
EVAL_COLOR = "#e07b39"
BEST_COLOR = "#2e7d32"
MODE_COLORS = {"sequential": "#5b8fd0", "simultaneous": "#f0a04b"}
DPI = 144
CSS_PX_PER_INCH = 96  # the page shows each picture at its size in CSS pixels; the PNG has 1.5x the pixels


class Picture:
    """A rendered figure: its data URI and the width (CSS pixels) it is meant to be shown at."""

    def __init__(self, data_uri: str, width_px: int, alt: str):
        self.data_uri, self.width_px, self.alt = data_uri, width_px, alt


def _figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.set_layout_engine("constrained")
    return fig


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#e6e8ec", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=9)


def _picture(fig: Figure, alt: str) -> Picture:
    buffer = io.BytesIO()
    # No "Software" tag (and PNG has no date): identical inputs give identical bytes.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    width_px = int(round(fig.get_figwidth() * CSS_PX_PER_INCH))
    return Picture("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), width_px, alt)


def training_curves(history: Dict[str, List[float]], best_epoch: int) -> Picture:
    """Loss and accuracy per epoch, train and eval, with the restored best epoch marked."""
    fig = _figure(9.5, 3.4)
    axes = fig.subplots(1, 2)
    for ax, (key, title) in zip(axes, (("loss", "loss"), (ACCURACY_METRIC, "accuracy"))):
        for prefix, label, color, style in (("", "train", TRAIN_COLOR, "-"), ("val_", "eval", EVAL_COLOR, "--")):
            values = history.get(prefix + key)
            if values:
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, style, color=color, marker="o", markersize=4, linewidth=1.8, label=label)
        ax.axvline(best_epoch, color=BEST_COLOR, linestyle=":", linewidth=1.5, label=f"best epoch ({best_epoch})")
        best_eval = (history.get("val_" + key) or [])[best_epoch - 1:best_epoch]
        if best_eval:
            ax.plot([best_epoch], best_eval, "o", markersize=9, markerfacecolor="none", markeredgecolor=BEST_COLOR,
                    markeredgewidth=2)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("epoch", fontsize=9)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if key != "loss":
            ax.set_ylim(-0.02, 1.02)
        _style(ax)
    axes[1].legend(fontsize=8.5, frameon=False, loc="lower right")
    return _picture(fig, f"Loss and accuracy per epoch, train and eval; best epoch {best_epoch}")


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> Picture:
    """Counts per true (rows) and predicted (columns) class, shaded by the share of each true class."""
    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    size = 1.25 * len(labels) + 1.6
    fig = _figure(size + 0.6, size)
    ax = fig.subplots()
    ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for (row, col), count in np.ndenumerate(counts):
        color = "white" if shares[row, col] > 0.6 else "#1f2430"
        ax.text(col, row, f"{int(count)}\n{shares[row, col]:.0%}", ha="center", va="center", fontsize=11, color=color)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, fontsize=10)
    ax.set_yticks(ticks, labels, fontsize=10)
    ax.set_xlabel("predicted", fontsize=10)
    ax.set_ylabel("true", fontsize=10)
    ax.set_title("test split", fontsize=11)
    return _picture(fig, "Confusion matrix of the test split (counts and share of each true class)")


def mel_spectrograms(clips: Sequence[Tuple[str, np.ndarray, int]]) -> Picture:
    """One mel spectrogram (dB) per (title, samples, sample rate), stacked."""
    import librosa  # pylint: disable=import-outside-toplevel
    import librosa.display  # pylint: disable=import-outside-toplevel

    fig = _figure(9.5, 2.3 * len(clips) + 0.4)
    axes = np.atleast_1d(fig.subplots(len(clips), 1, sharex=True))
    image = None
    for ax, (title, samples, rate) in zip(axes, clips):
        mel = librosa.feature.melspectrogram(y=samples, sr=rate, n_fft=512, hop_length=160, n_mels=64)
        db = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
        image = librosa.display.specshow(db, sr=rate, hop_length=160, x_axis="time", y_axis="mel", ax=ax,
                                         cmap="magma", vmin=-80, vmax=0)
        ax.set_title(title, fontsize=10, loc="left")
        ax.tick_params(labelsize=8.5)
        ax.set_xlabel("")
        ax.set_ylabel("Hz", fontsize=9)
    axes[-1].set_xlabel("seconds", fontsize=9)
    fig.colorbar(image, ax=list(axes), format="%+.0f dB", pad=0.01, aspect=30).ax.tick_params(labelsize=8.5)
    return _picture(fig, "Mel spectrograms of one female and one male test clip")


def clip_composition(speakers: Dict[str, Dict[int, int]], utterance_seconds: Dict[str, List[float]],
                     clip_seconds: Optional[float]) -> Picture:
    """Left: clips per number of speakers, by mode. Right: seconds of utterance audio per clip, by mode
    (above the clip length where speakers overlap)."""
    fig = _figure(9.5, 3.0)
    left, right = fig.subplots(1, 2)
    modes = sorted(set(speakers) | set(utterance_seconds))
    counts = sorted({n for per_mode in speakers.values() for n in per_mode})
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        x = np.arange(len(counts)) + (i - (len(modes) - 1) / 2) * width
        left.bar(x, [speakers.get(mode, {}).get(n, 0) for n in counts], width, label=mode,
                 color=MODE_COLORS.get(mode, "#888888"))
    left.set_xticks(np.arange(len(counts)), [str(n) for n in counts])
    left.set_xlabel("speakers in the clip", fontsize=9)
    left.set_ylabel("clips (all splits)", fontsize=9)
    left.set_title("speakers per clip", fontsize=11)
    left.legend(fontsize=8.5, frameon=False)
    longest = max([max(v) for v in utterance_seconds.values() if v] + [clip_seconds or 1.0])
    # Bins centred on round values: a clip filled by one utterance (exactly the clip length) sits in the
    # middle of its bar, not on an edge.
    step = max(longest / 30.0, 0.05)
    bins = np.arange(-step / 2, longest + step, step)
    right.hist([utterance_seconds.get(m, []) for m in modes], bins=bins, stacked=True, label=modes,
               color=[MODE_COLORS.get(m, "#888888") for m in modes])
    right.margins(y=0.18)
    if clip_seconds:
        right.axvline(clip_seconds, color="#555555", linestyle=":", linewidth=1.2, zorder=0)
        right.annotate(f"clip length {clip_seconds:g} s", (clip_seconds, 0.97), xycoords=("data", "axes fraction"),
                       xytext=(5, 0), textcoords="offset points", fontsize=8.5, color="#555555", va="top")
    right.set_xlabel("seconds of utterance audio in the clip (overlaps add up)", fontsize=9)
    right.set_ylabel("clips (all splits)", fontsize=9)
    right.set_title("speech per clip", fontsize=11)
    for ax in (left, right):
        _style(ax)
    left.grid(False, axis="x")
    return _picture(fig, "Clips per number of speakers and seconds of utterance audio per clip, by mode")
