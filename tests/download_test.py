"""Tests for pipeline.download against a local HTTP server that can misbehave on purpose.

The server implements Range itself (http.server's SimpleHTTPRequestHandler does not) and records
every request, so the tests can check what the client asked for, not only what it ended up with.
"""
from __future__ import annotations

import hashlib
import io
import re
import socket
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline import download, resumable_http
from pipeline.download import SUBSET_SHA256, download_subset
from components.common.errors import AudioClfError

FLAC_BYTES = bytes(range(256)) * 800  # ~200 kB of barely compressible-looking data
CHUNK = 4096
_REAL_MIRRORS = (download.DEFAULT_MIRROR, download.ALTERNATE_MIRRORS)  # before any monkeypatching


# ----------------------------------------------------------------------------------------------
# Local server


class _ServerState:
    """What the server serves and how it behaves; switched by each test."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.mode = "normal"  # normal | truncate_first | truncate_always | ignore_range | stall_first | drip
        self.pause_s = 0.0    # stall_first: silence after half the body; drip: pause between bytes
        self.requests: list[tuple[str, str | None]] = []
        self.bytes_sent = 0
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: a closed socket ends the body

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        state: _ServerState = self.server.state
        range_header = self.headers.get("Range")
        with state.lock:
            state.requests.append((self.path, range_header))
            request_number = len(state.requests)
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return

        start = 0
        if range_header and state.mode != "ignore_range":
            match = re.fullmatch(r"bytes=(\d+)-", range_header)
            assert match, range_header
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416, "Range Not Satisfiable")
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206, "Partial Content")
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()

        first = request_number == 1
        cut = state.mode == "truncate_always" or (state.mode == "truncate_first" and first)
        if cut:
            payload = payload[: len(payload) // 2]
        self.close_connection = True
        try:
            if state.mode == "drip":  # one byte at a time, never silent long enough for a socket timeout
                for i in range(len(payload)):
                    self._send(payload[i:i + 1])
                    time.sleep(state.pause_s)
                return
            if state.mode == "stall_first" and first:  # half the body, then silence until the client gives up
                self._send(payload[: len(payload) // 2])
                time.sleep(state.pause_s)
                return
            self._send(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up on a slow transfer

    def _send(self, data: bytes) -> None:
        state: _ServerState = self.server.state
        self.wfile.write(data)
        self.wfile.flush()
        with state.lock:
            state.bytes_sent += len(data)


class _Server:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = _ServerState()
        self.state: _ServerState = self.httpd.state
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def serve(self, path: str, data: bytes) -> None:
        self.state.files[path] = data


@pytest.fixture
def server():
    srv = _Server()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    monkeypatch.setattr(resumable_http, "RETRY_PAUSE_S", 0.0)
    monkeypatch.setattr(resumable_http, "SOCKET_TIMEOUT_S", 5.0)
    # Never reach the real mirrors from a test, even by mistake.
    monkeypatch.setattr(download, "DEFAULT_MIRROR", "http://127.0.0.1:9/unused")
    monkeypatch.setattr(download, "ALTERNATE_MIRRORS", ())


# ----------------------------------------------------------------------------------------------
# Archives


def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, **attrs) -> None:
    info = tarfile.TarInfo(name)
    for key, value in attrs.items():
        setattr(info, key, value)
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def _archive(subset: str = "dev-clean", extra=None) -> bytes:
    """A tiny LibriSpeech-shaped .tar.gz; `extra(tar)` may append hostile members at the end."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        _add(tar, "LibriSpeech", type=tarfile.DIRTYPE, mode=0o755)
        _add(tar, "LibriSpeech/SPEAKERS.TXT", f"; ID | SEX | SUBSET\n1 | F | {subset}\n".encode())
        _add(tar, f"LibriSpeech/{subset}/1/2/1-2-0000.flac", FLAC_BYTES)
        if extra is not None:
            extra(tar)
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def archive() -> bytes:
    return _archive()


def _listing(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


# ----------------------------------------------------------------------------------------------
# Tests


def test_full_download_verifies_and_extracts(server, archive, tmp_path):
    server.serve("/dev-clean.tar.gz", archive)
    dest = tmp_path / "data"
    seen = []

    root = download_subset("dev-clean", dest, mirror=server.url, expected_sha256=_sha(archive),
                           chunk_bytes=CHUNK, progress=lambda *args: seen.append(args))

    assert root == dest.resolve() / "LibriSpeech"
    assert (root / "SPEAKERS.TXT").is_file()
    assert (root / "dev-clean/1/2/1-2-0000.flac").read_bytes() == FLAC_BYTES
    assert (root / ".dev-clean.complete").is_file()
    assert (dest / "dev-clean.tar.gz").read_bytes() == archive
    assert not (dest / "dev-clean.tar.gz.part").exists()
    assert not list(dest.glob(".dev-clean.extract-*"))
    assert server.state.requests == [("/dev-clean.tar.gz", None)]
    assert seen[-1] == (len(archive), len(archive))
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))


def test_truncated_transfer_is_resumed_with_range(server, archive, tmp_path):
    server.serve("/dev-clean.tar.gz", archive)
    server.state.mode = "truncate_first"

    root = download_subset("dev-clean", tmp_path, mirror=server.url,
                           expected_sha256=_sha(archive), chunk_bytes=CHUNK)

    half = len(archive) // 2
    assert server.state.requests == [
        ("/dev-clean.tar.gz", None),
        ("/dev-clean.tar.gz", f"bytes={half}-"),
    ]
    assert server.state.bytes_sent == len(archive)  # nothing fetched twice
    assert (tmp_path / "dev-clean.tar.gz").read_bytes() == archive
    assert (root / "dev-clean/1/2/1-2-0000.flac").read_bytes() == FLAC_BYTES


def test_transfer_that_keeps_breaking_gives_up_and_keeps_the_part(server, archive, tmp_path):
    server.serve("/dev-clean.tar.gz", archive)
    server.state.mode = "truncate_always"

    with pytest.raises(AudioClfError, match="kept breaking off") as err:
        download_subset("dev-clean", tmp_path, mirror=server.url,
                        expected_sha256=_sha(archive), chunk_bytes=CHUNK, retries=2)

    assert len(server.state.requests) == 3
    part = tmp_path / "dev-clean.tar.gz.part"
    assert str(part) in str(err.value)
    assert part.read_bytes() == archive[: part.stat().st_size]  # a valid prefix, ready to resume
    assert 0 < part.stat().st_size < len(archive)
    assert not (tmp_path / "dev-clean.tar.gz").exists()


def test_resumes_from_existing_part_file(server, archive, tmp_path):
    server.serve("/dev-clean.tar.gz", archive)
    half = len(archive) // 2
    (tmp_path / "dev-clean.tar.gz.part").write_bytes(archive[:half])

    root = download_subset("dev-clean", tmp_path, mirror=server.url,
                           expected_sha256=_sha(archive), chunk_bytes=CHUNK)

    assert server.state.requests == [("/dev-clean.tar.gz", f"bytes={half}-")]
    assert server.state.bytes_sent == len(archive) - half
    assert (tmp_path / "dev-clean.tar.gz").read_bytes() == archive
    assert (root / "SPEAKERS.TXT").is_file()


def test_complete_part_file_and_416_reply(server, archive, tmp_path):
    server.serve("/dev-clean.tar.gz", archive)
    (tmp_path / "dev-clean.tar.gz.part").write_bytes(archive)

    root = download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=_sha(archive))

    assert server.state.requests == [("/dev-clean.tar.gz", f"bytes={len(archive)}-")]
    assert server.state.bytes_sent == 0
    assert (root / ".dev-clean.complete").is_file()


def test_server_ignoring_range_restarts_from_zero(server, archive, tmp_path):
    server.serve("/dev-clean.tar.gz", archive)
    server.state.mode = "ignore_range"
    half = len(archive) // 2
    (tmp_path / "dev-clean.tar.gz.part").write_bytes(archive[:half])

    download_subset("dev-clean", tmp_path, mirror=server.url,
                    expected_sha256=_sha(archive), chunk_bytes=CHUNK)

    assert server.state.requests == [("/dev-clean.tar.gz", f"bytes={half}-")]
    # Appending the 200 body to the old half would give half + whole bytes and fail the checksum.
    assert (tmp_path / "dev-clean.tar.gz").read_bytes() == archive


def test_wrong_checksum_is_an_error_and_leaves_nothing(server, archive, tmp_path):
    server.serve("/dev-clean.tar.gz", archive)
    wrong = "0" * 64

    with pytest.raises(AudioClfError) as err:
        download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=wrong)

    message = str(err.value)
    assert wrong in message and _sha(archive) in message
    assert "--mirror" in message and "dev-clean.tar.gz.part" in message
    assert _listing(tmp_path) == set()


def test_checksum_mismatch_does_not_try_another_mirror(server, archive, tmp_path, monkeypatch):
    server.serve("/bad/dev-clean.tar.gz", archive + b"tampered")
    server.serve("/good/dev-clean.tar.gz", archive)
    monkeypatch.setattr(download, "DEFAULT_MIRROR", f"{server.url}/bad")
    monkeypatch.setattr(download, "ALTERNATE_MIRRORS", (f"{server.url}/good",))

    with pytest.raises(AudioClfError, match="SHA-256"):
        download_subset("dev-clean", tmp_path, expected_sha256=_sha(archive))

    assert [path for path, _ in server.state.requests] == ["/bad/dev-clean.tar.gz"]
    assert _listing(tmp_path) == set()


def test_unreachable_mirror_falls_back_to_the_next(server, archive, tmp_path, monkeypatch):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    server.serve("/good/dev-clean.tar.gz", archive)
    monkeypatch.setattr(download, "DEFAULT_MIRROR", f"http://127.0.0.1:{dead_port}/resources/12")
    monkeypatch.setattr(download, "ALTERNATE_MIRRORS", (f"{server.url}/good",))

    root = download_subset("dev-clean", tmp_path, expected_sha256=_sha(archive))

    assert (root / "SPEAKERS.TXT").is_file()
    assert server.state.requests == [("/good/dev-clean.tar.gz", None)]


def _dotdot(tar):
    _add(tar, "LibriSpeech/../../evil.txt", b"pwned")


def _absolute(outside: Path):
    def add(tar):
        _add(tar, str(outside / "abs_evil.txt"), b"pwned")
    return add


def _symlink_out(tar):
    _add(tar, "LibriSpeech/link", type=tarfile.SYMTYPE, linkname="../../outside")


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_unsafe_member_is_refused_before_extracting_anything(server, tmp_path, kind):
    dest = tmp_path / "dest" / "data"
    outside = tmp_path / "outside"
    outside.mkdir()
    extra, member = {
        "dotdot": (_dotdot, "LibriSpeech/../../evil.txt"),
        "absolute": (_absolute(outside), str(outside / "abs_evil.txt")),
        "symlink": (_symlink_out, "LibriSpeech/link"),
    }[kind]
    bad = _archive(extra=extra)
    server.serve("/dev-clean.tar.gz", bad)

    with pytest.raises(AudioClfError, match="Refusing to extract") as err:
        download_subset("dev-clean", dest, mirror=server.url, expected_sha256=_sha(bad))

    assert repr(member) in str(err.value)
    assert _listing(dest) == {"dev-clean.tar.gz"}  # SPEAKERS.TXT (first member) was not written
    assert _listing(outside) == set()
    assert not (tmp_path / "dest" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_http_404_names_the_url(server, tmp_path):
    with pytest.raises(AudioClfError) as err:
        download_subset("dev-clean", tmp_path, mirror=server.url + "/", expected_sha256="a" * 64)

    message = str(err.value)
    assert f"{server.url}/dev-clean.tar.gz" in message
    assert "404" in message
    assert _listing(tmp_path) == set()


def test_unknown_subset_lists_known_ones(server, tmp_path):
    with pytest.raises(AudioClfError) as err:
        download_subset("dev-dirty", tmp_path, mirror=server.url)

    message = str(err.value)
    assert "dev-dirty" in message
    for known in SUBSET_SHA256:
        assert known in message
    assert server.state.requests == []


def test_second_subset_merges_and_reruns_are_skipped(server, tmp_path):
    dev, test = _archive("dev-clean"), _archive("test-clean")
    server.serve("/dev-clean.tar.gz", dev)
    server.serve("/test-clean.tar.gz", test)

    root = download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=_sha(dev))
    again = download_subset("test-clean", tmp_path, mirror=server.url, expected_sha256=_sha(test))
    assert again == root
    assert (root / "dev-clean/1/2/1-2-0000.flac").is_file()
    assert (root / "test-clean/1/2/1-2-0000.flac").is_file()
    assert {".dev-clean.complete", ".test-clean.complete"} <= {p.name for p in root.iterdir()}

    requests = len(server.state.requests)
    (tmp_path / "dev-clean.tar.gz").rename(tmp_path / "kept.tar.gz")  # as if deleted to save space
    again = download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=_sha(dev))
    assert again == root
    assert len(server.state.requests) == requests  # marker present: no download, no extraction
    (tmp_path / "kept.tar.gz").rename(tmp_path / "dev-clean.tar.gz")

    # Without the marker, the verified archive is re-hashed and re-extracted, not downloaded.
    (root / ".dev-clean.complete").unlink()
    (root / "dev-clean/1/2/1-2-0000.flac").unlink()
    download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=_sha(dev))
    assert len(server.state.requests) == requests
    assert (root / "dev-clean/1/2/1-2-0000.flac").read_bytes() == FLAC_BYTES


def test_existing_archive_with_wrong_digest_is_refused(server, archive, tmp_path):
    (tmp_path / "dev-clean.tar.gz").write_bytes(archive + b"junk")

    with pytest.raises(AudioClfError, match="existing file"):
        download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=_sha(archive))

    assert server.state.requests == []
    assert not (tmp_path / "LibriSpeech").exists()


def test_stalled_transfer_keeps_its_bytes_and_resumes_from_them(server, archive, tmp_path, monkeypatch):
    """A chunk bigger than the file: the stall comes mid-chunk, and the bytes received before it are
    kept (not thrown away with the unfinished chunk), so the retry asks for the rest only."""
    monkeypatch.setattr(resumable_http, "SOCKET_TIMEOUT_S", 0.3)
    server.serve("/dev-clean.tar.gz", archive)
    server.state.mode, server.state.pause_s = "stall_first", 1.5

    download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=_sha(archive),
                    chunk_bytes=len(archive) * 2)

    half = len(archive) // 2
    assert server.state.requests == [("/dev-clean.tar.gz", None), ("/dev-clean.tar.gz", f"bytes={half}-")]
    assert server.state.bytes_sent == len(archive)  # nothing fetched twice
    assert (tmp_path / "dev-clean.tar.gz").read_bytes() == archive


def test_slow_drip_server_is_broken_off_below_the_minimum_speed(server, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(resumable_http, "THROUGHPUT_WINDOW_S", 0.4)
    monkeypatch.setattr(resumable_http, "LOG_EVERY_S", 0.1)
    data = bytes(range(256)) * 40
    server.serve("/dev-clean.tar.gz", data)
    server.state.mode, server.state.pause_s = "drip", 0.05   # ~20 bytes/s

    caplog.set_level("INFO", logger="pipeline.resumable_http")
    with pytest.raises(AudioClfError, match=r"kept breaking off \(too slow: \d+ bytes/s .* below the minimum of "
                                            r"1000 bytes/s \(--min-speed-kbps\)\) after 2 tries") as err:
        download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=_sha(data), retries=1,
                        limits=resumable_http.Limits(min_bytes_per_s=1000))

    part = tmp_path / "dev-clean.tar.gz.part"
    assert str(part) in str(err.value)
    got = part.read_bytes()
    assert 0 < len(got) < len(data) and got == data[: len(got)]   # every dripped byte kept, in order
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", server.state.requests[1][1]).group(1))
    assert len(server.state.requests) == 2 and 0 < resumed_at < len(got)   # the retry went on from the kept bytes
    progress = [r.getMessage() for r in caplog.records if "dev-clean.tar.gz.part:" in r.getMessage()]
    assert progress and all("kB/s" in line for line in progress)   # progress shows even at a trickle


def test_overall_deadline_stops_the_download_and_keeps_the_part(server, tmp_path):
    data = bytes(range(256)) * 40
    server.serve("/dev-clean.tar.gz", data)
    server.state.mode, server.state.pause_s = "drip", 0.05

    started = time.monotonic()
    with pytest.raises(AudioClfError, match=r"did not finish within 0\.0 minutes \(--timeout-minutes\); \d+ bytes are "
                                            r"kept in .*dev-clean\.tar\.gz\.part"):
        download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=_sha(data),
                        limits=resumable_http.Limits(min_bytes_per_s=0, deadline_s=0.6))
    assert time.monotonic() - started < 5
    assert (tmp_path / "dev-clean.tar.gz.part").stat().st_size > 0


BOMB_BYTES = 8 * 2**20


@pytest.fixture
def _low_ratio_floor(monkeypatch):
    monkeypatch.setattr(download, "RATIO_FLOOR_BYTES", 2**20)


def _bomb(tar):
    """A member of 8 MiB of zeros: gzip makes it ~8 kB (the tests lower RATIO_FLOOR_BYTES to 1 MiB; the
    real floor, 64 MiB, spares tiny archives of text)."""
    info = tarfile.TarInfo("LibriSpeech/dev-clean/1/2/bomb.flac")
    info.size = BOMB_BYTES
    tar.addfile(info, _Zeros(info.size))


class _Zeros(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n

    def readable(self):
        return True


@pytest.fixture(scope="module")
def bomb_archive() -> bytes:
    return _archive(extra=_bomb)


@pytest.mark.usefixtures("_low_ratio_floor")
def test_archive_that_unpacks_far_beyond_its_size_is_refused(server, bomb_archive, tmp_path):
    assert len(bomb_archive) * 20 < BOMB_BYTES
    server.serve("/dev-clean.tar.gz", bomb_archive)

    with pytest.raises(AudioClfError, match=r"dev-clean\.tar\.gz: member 'LibriSpeech/dev-clean/1/2/bomb\.flac' brings the "
                                            r"unpacked size to \d+ bytes, \d+ times the archive's \d+ bytes \(limit 10, "
                                            r"--max-ratio\); nothing was extracted"):
        download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=_sha(bomb_archive))
    assert _listing(tmp_path) == {"dev-clean.tar.gz"}   # nothing extracted


def test_extracted_size_limit_names_the_member_and_the_flag(server, bomb_archive, tmp_path):
    server.serve("/dev-clean.tar.gz", bomb_archive)

    with pytest.raises(AudioClfError, match=r"bomb\.flac' brings the unpacked size to \d+ bytes, over the limit of "
                                            r"5000000 bytes; nothing was extracted.*--max-extracted-gb"):
        download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=_sha(bomb_archive),
                        max_extracted_bytes=5 * 10**6, max_compression_ratio=None)
    assert _listing(tmp_path) == {"dev-clean.tar.gz"}


@pytest.mark.usefixtures("_low_ratio_floor")
def test_limits_can_be_lifted_for_a_genuine_archive(server, bomb_archive, tmp_path):
    server.serve("/dev-clean.tar.gz", bomb_archive)
    root = download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=_sha(bomb_archive),
                           max_compression_ratio=None)
    assert (root / "dev-clean/1/2/bomb.flac").stat().st_size == BOMB_BYTES


def test_published_table_and_mirrors():
    assert len(SUBSET_SHA256) == 7
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in SUBSET_SHA256.values())
    assert SUBSET_SHA256["dev-clean"] == (
        "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3"
    )
    assert _REAL_MIRRORS == (
        "https://www.openslr.org/resources/12",
        ("https://us.openslr.org/resources/12", "https://openslr.elda.org/resources/12"),
    )


@pytest.mark.usefixtures("_low_ratio_floor")
def test_cli_refuses_a_bomb_in_one_line_and_takes_the_limit_flags(server, bomb_archive, tmp_path, capsys):
    from pipeline import cli

    server.serve("/dev-clean.tar.gz", bomb_archive)
    common = ["download", "--subset", "dev-clean", "--dest", str(tmp_path), "--mirror", server.url,
              "--sha256", _sha(bomb_archive)]
    assert cli.main(common) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("audioclf: error: ")]
    assert len(lines) == 1 and "bomb.flac" in lines[0] and "--max-ratio" in lines[0]
    assert "Traceback" not in err

    assert cli.main(common + ["--max-ratio", "0", "--max-extracted-gb", "0.001"]) == 2
    assert "over the limit of 1000000 bytes" in capsys.readouterr().err

    assert cli.main(common + ["--max-ratio", "0", "--min-speed-kbps", "1", "--timeout-minutes", "5"]) == 0
    assert (tmp_path / "LibriSpeech/dev-clean/1/2/bomb.flac").stat().st_size == BOMB_BYTES


def test_archive_larger_than_the_free_space_is_refused_before_writing(server, archive, tmp_path, monkeypatch):
    server.serve("/dev-clean.tar.gz", archive)
    usage = type("Usage", (), {"free": 1000})
    monkeypatch.setattr(download.shutil, "disk_usage", lambda path: usage)

    with pytest.raises(AudioClfError, match=r"unpacks to \d+ bytes but .* has only 1000 bytes free; nothing was extracted"):
        download_subset("dev-clean", tmp_path, mirror=server.url, expected_sha256=_sha(archive))
    assert _listing(tmp_path) == {"dev-clean.tar.gz"}
