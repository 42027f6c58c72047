"""The message helpers: user input quoted cut, long messages shortened, the user message found in text."""
from components.common.errors import MESSAGE_LIMIT, QUOTE_LIMIT, AudioClfError, clip, find_user_message, quote, shorten


def test_quote_cuts_long_input_with_an_ellipsis_and_escapes_line_breaks():
    assert quote("ab") == "'ab'"
    assert quote("x" * 2_000_000) == repr("x" * QUOTE_LIMIT + "…")
    assert quote("a\u2028b\nc", limit=10) == "'a\\u2028b\\nc'"
    assert quote(42) == "'42'" and quote("abcdef", limit=3) == "'abc…'"


def test_clip_cuts_an_id_named_in_running_text():
    assert clip("p225") == "p225" and clip("9" * 500) == "9" * QUOTE_LIMIT + "…"


def test_shorten_says_how_much_was_left_out():
    assert shorten("short") == "short"
    long = "y" * (MESSAGE_LIMIT + 50)
    assert shorten(long) == "y" * MESSAGE_LIMIT + "… (50 more characters)"


def test_find_user_message_is_capped_and_splits_on_newlines_only():
    assert find_user_message(AudioClfError("z" * 10_000)).endswith("more characters)")
    relayed = RuntimeError("Traceback ...\ncomponents.common.errors.AudioClfError: SPEAKERS.TXT:3: name 'a\u2028b' bad\n"
                           "  more traceback")
    assert find_user_message(relayed) == "SPEAKERS.TXT:3: name 'a\u2028b' bad"
    assert find_user_message(ValueError("no marker")) is None
