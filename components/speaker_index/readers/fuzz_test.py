"""Property-based fuzz tests of every corpus reader: whatever the metadata files hold, a reader either
returns a listing or raises AudioClfError, never anything else (a traceback is a bug), and its message
stays short (a huge line is quoted cut) and names a real line (lines are split on '\\n' only, so U+2028
or U+0085 inside a field keep the numbers right).

Each reader gets a small made-up corpus whose metadata lines are drawn from pieces of plausible lines
mixed with arbitrary text. max_examples is modest so that the file runs in a few seconds."""
import os
import re
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.common.errors import MESSAGE_LIMIT, QUOTE_LIMIT, AudioClfError
from components.speaker_index.readers import commonvoice, csv_manifest, kaldi, librispeech, vctk

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Characters that trip up line splitting, CSV/TSV parsing and field splitting.
TRICKY = ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1e", "\r", "\t", "\x00", "\ufeff", "\u00a0",
          '"', "'", ",", "|", ";", " ", "  ", "\\", "é", "😀"]
LONG = "x" * 5000


def _piece(words):
    """One field: a plausible word, a tricky character, a very long run, or arbitrary text."""
    tricky_chars = st.sampled_from([c for c in TRICKY if len(c) == 1] + list("aF0"))
    return st.one_of(st.sampled_from(words), st.sampled_from(TRICKY), st.just(LONG),
                     st.text(max_size=12), st.text(alphabet=tricky_chars, max_size=6))


def _lines(words, separators):
    """Text made of lines, each fields joined by one of `separators` (or an arbitrary line)."""
    line = st.one_of(
        st.tuples(st.lists(_piece(words), max_size=7), st.sampled_from(separators)).map(lambda t: t[1].join(t[0])),
        st.text(max_size=40),
    )
    return st.lists(line, max_size=8).map("\n".join)


def _write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", errors="surrogatepass", newline="") as f:
        f.write(text)


def _check(read, texts, audio_file):
    """Writes `texts` and an empty `audio_file` into a new folder and runs the reader on it; any error must
    be AudioClfError with a short message naming a real line."""
    with tempfile.TemporaryDirectory() as root:
        for name, text in texts.items():
            _write(root, name, text)
        _write(root, audio_file, "")
        try:
            read(root)
        except AudioClfError as err:
            message = str(err)
            assert len(message) < MESSAGE_LIMIT, message[:300]
            assert LONG[:QUOTE_LIMIT + 1] not in message   # the long field was quoted cut
            for name, line in re.findall(r"([\w.-]+):(\d+):", message):
                if name in texts:
                    assert 1 <= int(line) <= texts[name].count("\n") + 1, (name, line, message[:300])


def _no_surrogates(text):
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


@FUZZ
@given(body=_lines(["1", "19", "F", "M", "f", "train-clean-100", "dev-mini", "12.5", "Name"], [" | ", "|", " |  "]))
def test_speakers_txt_fuzz(body):
    text = _no_surrogates(body)
    _check(librispeech.read, {"SPEAKERS.TXT": text}, "dev-mini/19/1/19-1-0000.flac")


@FUZZ
@given(body=_lines(["p225", "225", "23", "F", "M", "female", "English", "Southern", "England", "x"], [" ", "  ", "\t"]))
def test_vctk_speaker_info_fuzz(body):
    text = "ID  AGE  GENDER  ACCENTS  REGION\n" + _no_surrogates(body)
    _check(vctk.read, {vctk.INFO_FILE: text}, "wav48_silence_trimmed/p225/p225_001_mic1.flac")


@FUZZ
@given(scp=_lines(["utt1", "utt2", "a.wav", "/abs/b.flac", "cmd |", "x.ark:12"], [" ", "\t"]),
       utt2spk=_lines(["utt1", "utt2", "spk1", "spk2"], [" ", "\t"]),
       spk2gender=_lines(["spk1", "spk2", "m", "f", "M", "x"], [" ", "\t"]),
       spk2age=st.one_of(st.none(), _lines(["spk1", "spk2", "23", "-1", "abc", "200"], [" ", "\t"])))
def test_kaldi_data_dir_fuzz(scp, utt2spk, spk2gender, spk2age):
    texts = {"wav.scp": scp, "utt2spk": utt2spk, "spk2gender": spk2gender}
    if spk2age is not None:
        texts["spk2age"] = spk2age
    texts = {name: _no_surrogates(text) for name, text in texts.items()}
    _check(kaldi.read, texts, "a.wav")


@FUZZ
@given(body=_lines(["abc123", "common_voice_en_1.mp3", "male", "female", "male_masculine", "twenties", "", "other",
                    "Hello there"], ["\t"]),
       header=st.sampled_from(["client_id\tpath\tsentence\tage\tgender", "client_id\tpath\tgender", "path\tgender",
                               "\ufeffclient_id\tpath\tgender\tage", ""]),
       other=st.one_of(st.none(), _lines(["abc123", "common_voice_en_1.mp3", "female"], ["\t"])))
def test_commonvoice_tsv_fuzz(body, header, other):
    texts = {"validated.tsv": _no_surrogates(header + "\n" + body)}
    if other is not None:
        texts["other.tsv"] = _no_surrogates("client_id\tpath\tgender\n" + other)
    _check(commonvoice.read, texts, "clips/common_voice_en_1.mp3")


@FUZZ
@given(body=_lines(["a.wav", "/nope.wav", "p1", "p2", "M", "F", "male", "x", "23", "", '"a,b"', '"'], [",", ", "]),
       header=st.sampled_from(["path,speaker,gender", "path,speaker,gender,age", "speaker,gender", "PATH, Speaker ,Gender",
                               ""]))
def test_csv_manifest_fuzz(body, header):
    text = _no_surrogates(header + "\n" + body)
    _check(csv_manifest.read, {csv_manifest.MANIFEST: text}, "a.wav")


@pytest.mark.parametrize("reader, files, name, line", [
    (librispeech.read, {"SPEAKERS.TXT": "; c\n19 | F | dev-mini | 1 | Name\u2028\n20 | X | dev-mini | 1 | N\u0085o\n",
                        "dev-mini/19/1/a.flac": ""}, "SPEAKERS.TXT", 3),
    (vctk.read, {"speaker-info.txt": "ID AGE GENDER\np225 23 F English\u2028\np226 x F E\u0085\n",
                 "wav48/p225/a.flac": ""}, "speaker-info.txt", 3),
    (kaldi.read, {"wav.scp": "u1 a.wav\n", "utt2spk": "u1 s1\n",
                  "spk2gender": "s0 m\u2028\ns1 q\n"}, "spk2gender", 2),
    (commonvoice.read, {"validated.tsv": "client_id\tpath\tsentence\tgender\nc1\ta.mp3\tHi\u2028there\tmale\nc2\tb.mp3\n",
                        "clips/a.mp3": ""}, "validated.tsv", 3),
    (csv_manifest.read, {"manifest.csv": "path,speaker,gender\na.wav,s1,M\u0085\nb.wav,s2,Q\n", "a.wav": ""},
     "manifest.csv", 3),
])
def test_line_numbers_count_newlines_only(tmp_path, reader, files, name, line):
    """U+2028 / U+0085 inside a field is not a line break: the bad line's number is the one an editor shows."""
    for rel, text in files.items():
        _write(str(tmp_path), rel, text)
    with pytest.raises(AudioClfError, match=rf"{re.escape(name)}:{line}: "):
        reader(str(tmp_path))


@pytest.mark.parametrize("reader, files", [
    (librispeech.read, {"SPEAKERS.TXT": "1 | Q" + "y" * 2_000_000 + "\n"}),
    (librispeech.read, {"SPEAKERS.TXT": "z" * 2_000_000 + "\n"}),
    (vctk.read, {"speaker-info.txt": "ID AGE GENDER\n" + "p" * 2_000_000 + "\n"}),
    (kaldi.read, {"wav.scp": "u" * 2_000_000 + "\n", "utt2spk": "", "spk2gender": ""}),
    (csv_manifest.read, {"manifest.csv": "path,speaker,gender\n" + "a" * 2_000_000 + ",s,M\n"}),
])
def test_a_huge_bad_line_is_quoted_cut(tmp_path, reader, files):
    for rel, text in files.items():
        _write(str(tmp_path), rel, text)
    with pytest.raises(AudioClfError) as err:
        reader(str(tmp_path))
    assert len(str(err.value)) < 1000 and not re.search(r"(.)\1{300}", str(err.value))
