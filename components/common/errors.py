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
# Longest piece of user input (a corpus line, a file name, a value) quoted back in a message.
QUOTE_LIMIT = 200
# Longest message passed on to the terminal, summary.json and the report: a backstop for input that a
# message forgot to quote() (a 2 MB corpus line must not come back whole three times).
MESSAGE_LIMIT = 2000


class AudioClfError(Exception):
    """Bad input or settings, described so that the user can fix it."""


def clip(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`value` as text cut to `limit` characters with an ellipsis: an id or name from user input named
    in running text (`speaker 42 is listed twice`), so that a huge one is not echoed whole."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`value` as repr for a message, cut to `limit` characters with an ellipsis, so that a huge bad
    line is not echoed whole; control characters and line breaks show as escapes."""
    return repr(clip(value, limit))


def shorten(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """`message` cut to `limit` characters, saying how much was left out."""
    if len(message) <= limit:
        return message
    return f"{message[:limit]}… ({len(message) - limit} more characters)"


def find_user_message(exc: BaseException) -> str | None:
    """Returns the AudioClfError message inside `exc`, its causes, or their text; None if absent.
    The message is cut to MESSAGE_LIMIT characters."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, AudioClfError):
            return shorten(str(exc))
        text = str(exc)
        if MARKER in text:
            tail = text.rsplit(MARKER, 1)[1].strip()
            # Split on "\n" only: a message may quote a U+2028 that str.splitlines would break at.
            return shorten(tail.split("\n")[0].rstrip("\r")) if tail else None
        exc = exc.__cause__ or exc.__context__
    return None
