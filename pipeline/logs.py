"""Readable logs: progress of each component and of our long steps, without TFX's proto dumps.

TFX logs whole protos (node specs, artifacts) at INFO and Beam relays every worker line. A person
running `audioclf run` wants to see which component runs and how far the long steps are; `-v` shows
everything.
"""
import logging
import os
import re
import sys

# INFO lines from libraries that are kept: component start/end and our own progress lines.
_KEEP = re.compile(r"Component \w+ is (running|finished)|audio synthesis|audio example gen|speaker index|"
                   r"running pipeline|Execution \d+ (succeeded|failed)|Going to run a new execution|"
                   r"Cached|cache|created (recurring )?run|uploaded .*pipeline|connected to Kubeflow|TFJob|^predict: |"
                   r"^classifying \d+ file",
                   re.IGNORECASE)


_WORKER = re.compile(r'^Worker: severity: (\w+) .*? message: "(.*?)" (?:instruction_id|log_location)', re.DOTALL)
_OUR_PROGRESS = re.compile(r"audio synthesis|audio example gen|speaker index|skipping ")


class _Quiet(logging.Filter):
    """Keeps warnings and errors, our own lines, and the INFO lines that show progress."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        worker = _WORKER.match(message)
        if worker:  # a Beam worker's line relayed by the runner: keep ours and its errors, unwrapped
            severity, text = worker.groups()
            if severity in ("ERROR", "CRITICAL") or _OUR_PROGRESS.search(text):
                record.msg, record.args = text.encode().decode("unicode_escape"), ()
                return True
            return False
        if record.levelno >= logging.WARNING:
            return "ArtifactQuery.property_predicate" not in message  # a TFX-internal notice
        if record.name == "root" and not message.startswith(("Using Any for unsupported type", "udf_utils.get_fn")):
            return "\n" not in message.strip() or bool(_OUR_PROGRESS.search(message))
        return "\n" not in message.strip() and bool(_KEEP.search(message))


def setup(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    if not verbose:
        handler.addFilter(_Quiet())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        from absl import logging as absl_logging  # pylint: disable=import-outside-toplevel
        absl_logging.use_python_logging(quiet=True)
    except ImportError:
        pass
    if not verbose:
        # Inherited by Beam worker processes too: TensorFlow's C++ INFO/WARNING lines, and Google
        # client libraries' deprecation notices about the Python version, say nothing about the run.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
        import warnings  # pylint: disable=import-outside-toplevel
        warnings.filterwarnings("ignore", category=FutureWarning)
