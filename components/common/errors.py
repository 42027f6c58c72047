"""The one error type a user is meant to read.

Every check on user input (files, settings, corpus contents) raises `AudioClfError` with a message
that names the file or setting and says what to do. The command line prints that message alone, with
no traceback, and exits with `EXIT_USER_ERROR`. Anything else is a bug and keeps its traceback.
"""

EXIT_USER_ERROR = 2
# The pipeline ran, but the Evaluator did not bless the new model, so nothing was pushed.
EXIT_NOT_BLESSED = 3

# Beam workers and TFX launchers re-raise a worker's exception as text inside another exception; the
# marker lets the command line find the user-facing message in that text.
MARKER = "AudioClfError: "


class AudioClfError(Exception):
    """Bad input or settings, described so that the user can fix it."""


def find_user_message(exc: BaseException) -> str | None:
    """Returns the AudioClfError message inside `exc`, its causes, or their text; None if absent."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, AudioClfError):
            return str(exc)
        text = str(exc)
        if MARKER in text:
            tail = text.rsplit(MARKER, 1)[1]
            return tail.strip().splitlines()[0] if tail.strip() else None
        exc = exc.__cause__ or exc.__context__
    return None
