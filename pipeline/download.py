"""Fetches a LibriSpeech subset from OpenSLR (resource 12), verifies it and unpacks it safely.

The archives are large (0.3 to 30 GB) and the mirrors drop connections, so the download resumes from
the bytes already on disk instead of starting over. Nothing unverified is ever used: the transfer
goes to `<subset>.tar.gz.part`, and only a file whose SHA-256 matches the published digest is
renamed to `<subset>.tar.gz`. Extraction checks every member before writing anything, unpacks into
a temporary folder inside `dest` and merges the result into `dest/LibriSpeech`, so that several
subsets share one data root (the folder holding SPEAKERS.TXT, passed as `audioclf run --data-root`).

An archive whose members add up to more than `max_extracted_bytes`, or to more than
`max_compression_ratio` times the archive's own size (a "zip bomb": LibriSpeech's FLAC files barely
compress, so its ratio is about 1), or to more than the free disk space, is refused before anything
is written, naming the member that crossed the line.

Only the standard library is used, so that the download works before any heavy dependency installs;
the resumable transfer itself is pipeline/resumable_http.py.
"""
from __future__ import annotations

import logging
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

from components.common import fs
from components.common.errors import AudioClfError, quote
from pipeline import resumable_http

log = logging.getLogger(__name__)

# Published on https://www.openslr.org/12 (the md5 there) and checked against the downloaded files.
SUBSET_SHA256: dict[str, str] = {
    "dev-clean": "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3",
    "dev-other": "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365",
    "test-clean": "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
    "test-other": "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29",
    "train-clean-100": "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2",
    "train-clean-360": "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf",
    "train-other-500": "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2",
}

DEFAULT_MIRROR = "https://www.openslr.org/resources/12"
# Tried in order, only when the previous mirror cannot be reached at all. A wrong checksum is never
# a reason to move on: it is reported, because it means the file or the table is wrong.
ALTERNATE_MIRRORS: tuple[str, ...] = (
    "https://us.openslr.org/resources/12",
    "https://openslr.elda.org/resources/12",
)

DATA_ROOT_NAME = "LibriSpeech"

_SUBSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

# Extraction limits (download_subset arguments; `audioclf download --max-extracted-gb/--max-ratio`).
# train-other-500, the largest subset, is a 30 GB archive of FLAC that unpacks to about 31 GB.
DEFAULT_MAX_EXTRACTED_BYTES = 100 * 10**9
DEFAULT_MAX_COMPRESSION_RATIO = 10.0
# Below this many unpacked bytes the ratio is not checked: a tiny archive of text files compresses
# well and is harmless.
RATIO_FLOOR_BYTES = 64 * 2**20


def download_subset(
    subset: str,
    dest: str | Path,
    mirror: str | None = None,
    expected_sha256: str | None = None,
    chunk_bytes: int = 1 << 20,
    progress: Callable[[int, int | None], None] | None = None,
    retries: int = 3,
    max_extracted_bytes: int | None = DEFAULT_MAX_EXTRACTED_BYTES,
    max_compression_ratio: float | None = DEFAULT_MAX_COMPRESSION_RATIO,
    limits: resumable_http.Limits | None = None,
) -> Path:
    """Downloads, verifies and extracts one LibriSpeech subset into `dest`; returns the data root,
    `dest/LibriSpeech`.

    Each step is skipped when its result is already there: an extracted subset (marker file), a
    verified archive (re-hashed, not re-downloaded), a partial download (resumed).

    `mirror` pins one mirror (no fallback); by default DEFAULT_MIRROR and then ALTERNATE_MIRRORS
    are tried. `expected_sha256` overrides SUBSET_SHA256 and is required for subsets not in it.
    `progress(done_bytes, total_bytes_or_None)` is called after every chunk written.
    `max_extracted_bytes` and `max_compression_ratio` (None: no limit) bound what the archive may
    unpack to; `limits` bounds the transfer's speed and duration (resumable_http.Limits).
    """
    digest = _expected_digest(subset, expected_sha256)
    if chunk_bytes <= 0:
        raise AudioClfError(f"chunk_bytes must be positive, got {chunk_bytes}.")
    if retries < 0:
        raise AudioClfError(f"retries must be 0 or more, got {retries}.")
    if max_extracted_bytes is not None and max_extracted_bytes <= 0:
        raise AudioClfError(f"the extracted size limit must be positive (--max-extracted-gb), got {max_extracted_bytes}.")
    if max_compression_ratio is not None and max_compression_ratio < 1:
        raise AudioClfError(f"the compression ratio limit must be 1 or more (--max-ratio), got {max_compression_ratio}.")

    dest = Path(dest).expanduser().resolve()
    dest.mkdir(parents=True, exist_ok=True)
    root = dest / DATA_ROOT_NAME
    marker = _marker_path(root, subset)
    if marker.exists():
        log.info("%s is already extracted in %s (found %s).", subset, root, marker.name)
        return root

    archive = dest / f"{subset}.tar.gz"
    if archive.exists():
        log.info("Found %s; re-checking its SHA-256 instead of downloading again.", archive)
        _verify_existing_archive(archive, digest, chunk_bytes)
    else:
        part = archive.with_name(archive.name + ".part")
        resumable_http.fetch_with_fallback(_mirror_urls(subset, mirror), part, chunk_bytes, progress, retries, limits)
        _verify_part(part, digest, chunk_bytes)
        os.replace(part, archive)
        log.info("Verified %s (sha256 %s).", archive, digest)

    _extract(archive, dest, subset, max_extracted_bytes, max_compression_ratio)
    return root


# ----------------------------------------------------------------------------------------------
# Arguments


def _expected_digest(subset: str, expected_sha256: str | None) -> str:
    """Picks the digest to check; a download with no known digest is refused, never trusted."""
    known = ", ".join(SUBSET_SHA256)
    if not isinstance(subset, str) or not _SUBSET_NAME.fullmatch(subset):
        raise AudioClfError(f"Unknown LibriSpeech subset {subset!r}. Known subsets: {known}.")
    if expected_sha256 is None:
        if subset not in SUBSET_SHA256:
            raise AudioClfError(
                f"Unknown LibriSpeech subset {subset!r}. Known subsets: {known}. "
                "For another file, give its SHA-256 as expected_sha256."
            )
        return SUBSET_SHA256[subset]
    digest = expected_sha256.strip().lower()
    if not _SHA256_HEX.fullmatch(digest):
        raise AudioClfError(
            f"expected_sha256 for {subset} must be 64 hexadecimal digits, got {expected_sha256!r}."
        )
    return digest


def _mirror_urls(subset: str, mirror: str | None) -> list[str]:
    """The archive's URL on each mirror to try, in order; a mirror the user names is used alone."""
    mirrors = [mirror] if mirror else [DEFAULT_MIRROR, *ALTERNATE_MIRRORS]
    return [f"{m.rstrip('/')}/{subset}.tar.gz" for m in mirrors]


def _marker_path(root: Path, subset: str) -> Path:
    return root / f".{subset}.complete"


# ----------------------------------------------------------------------------------------------
# Verification


def _verify_part(part: Path, expected: str, chunk_bytes: int) -> None:
    """Deletes a download whose digest is wrong, so that a bad file is never resumed or used."""
    actual = fs.sha256(str(part), chunk_bytes)
    if actual != expected:
        part.unlink(missing_ok=True)
        raise AudioClfError(
            f"The downloaded file {part} has SHA-256 {actual}, but {expected} was expected; it "
            "has been deleted. Run the same command again to download it afresh, or pick another "
            "mirror with --mirror."
        )


def _verify_existing_archive(archive: Path, expected: str, chunk_bytes: int) -> None:
    """Refuses an archive already in `dest` that is not the expected file (left for the user)."""
    actual = fs.sha256(str(archive), chunk_bytes)
    if actual != expected:
        raise AudioClfError(
            f"The existing file {archive} has SHA-256 {actual}, but {expected} was expected. "
            "Delete it and run the same command again to download it afresh."
        )


# ----------------------------------------------------------------------------------------------
# Extraction


def _extract(archive: Path, dest: Path, subset: str, max_bytes: int | None = DEFAULT_MAX_EXTRACTED_BYTES,
             max_ratio: float | None = DEFAULT_MAX_COMPRESSION_RATIO) -> None:
    """Unpacks into a temporary folder inside `dest`, then merges it into place and marks it done.

    Every member is checked before anything is written, and the temporary folder is removed whatever
    happens, so a refused or broken archive leaves no half-extracted tree behind.
    """
    _remove_stale_temp_dirs(dest, subset)
    log.info("Extracting %s into %s ...", archive.name, dest)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            size_check = _SizeCheck(archive, dest, max_bytes, max_ratio)
            members = []
            for member in tar:  # headers only, streamed: a bomb is refused as soon as it shows
                _check_member(member)
                size_check.add(member)
                members.append(member)
            size_check.check_free_space()
            tmp = Path(tempfile.mkdtemp(prefix=f".{subset}.extract-", dir=dest))
            try:
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, members=members, **extra)
                if not (tmp / DATA_ROOT_NAME).is_dir():
                    raise AudioClfError(
                        f"{archive} holds no top-level {DATA_ROOT_NAME}/ folder, so it is not a "
                        "LibriSpeech archive. Delete it and check the subset name and --mirror."
                    )
                _merge_tree(tmp, dest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, tarfile.FilterError):
            raise AudioClfError(f"{archive}: refused to extract member {exc.tarinfo.name!r}: "
                                f"{exc}. Do not use this archive.") from exc
        raise AudioClfError(
            f"Could not extract {archive}: {resumable_http.describe(exc)}. Check the free disk space in {dest}, "
            "or delete the archive and run again."
        ) from exc
    marker = _marker_path(dest / DATA_ROOT_NAME, subset)
    marker.write_text(f"{archive.name}\n")
    log.info("Extracted %s; data root is %s", subset, dest / DATA_ROOT_NAME)


class _SizeCheck:
    """Adds up the members' unpacked sizes and refuses the archive at the member that crosses a limit."""

    def __init__(self, archive: Path, dest: Path, max_bytes: int | None, max_ratio: float | None):
        self.archive, self.dest = archive, dest
        self.max_bytes, self.max_ratio = max_bytes, max_ratio
        self.archive_bytes = max(archive.stat().st_size, 1)
        self.total = 0

    def add(self, member: tarfile.TarInfo) -> None:
        if not member.isfile():
            return
        self.total += member.size
        where = (f"{self.archive}: member {quote(member.name)} brings the unpacked size to "
                 f"{_gb(self.total)}")
        if self.max_bytes is not None and self.total > self.max_bytes:
            raise AudioClfError(f"{where}, over the limit of {_gb(self.max_bytes)}; nothing was extracted. "
                                "If the archive is genuine, raise the limit with --max-extracted-gb.")
        ratio = self.total / self.archive_bytes
        if self.max_ratio is not None and self.total > RATIO_FLOOR_BYTES and ratio > self.max_ratio:
            raise AudioClfError(f"{where}, {ratio:.0f} times the archive's {_gb(self.archive_bytes)} (limit "
                                f"{self.max_ratio:g}, --max-ratio); nothing was extracted. A LibriSpeech archive "
                                "barely compresses, so this one is not genuine: do not use it.")

    def check_free_space(self) -> None:
        free = shutil.disk_usage(self.dest).free
        if self.total > free:
            raise AudioClfError(f"{self.archive} unpacks to {_gb(self.total)} but {self.dest} has only {_gb(free)} "
                                "free; nothing was extracted. Free some space or pick another --dest.")


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 10**7 else f"{n} bytes"


def _check_member(member: tarfile.TarInfo) -> None:
    """Refuses a member that could write outside the extraction folder or create a device."""

    def refuse(why: str) -> None:
        raise AudioClfError(f"Refusing to extract archive member {quote(member.name)}: {why}. "
                            "The archive is not a genuine LibriSpeech file; do not use it.")

    name = member.name
    if name.startswith(("/", "\\")) or posixpath.isabs(name) or re.match(r"[A-Za-z]:", name):
        refuse("it has an absolute path")
    if ".." in re.split(r"[/\\]", name):
        refuse("its path contains '..'")
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        refuse("it is a device file or FIFO")
    if member.issym():
        link = member.linkname
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), link))
        if posixpath.isabs(link) or target == ".." or target.startswith("../"):
            refuse(f"it is a symbolic link pointing outside the archive ({link!r})")
    if member.islnk():
        target = posixpath.normpath(member.linkname)
        if posixpath.isabs(target) or target == ".." or target.startswith("../"):
            refuse(f"it is a hard link pointing outside the archive ({member.linkname!r})")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        refuse("it is not a regular file, folder or link")


def _merge_tree(src: Path, dst: Path) -> None:
    """Moves `src`'s contents into `dst`, merging folders that exist in both (several subsets share
    `LibriSpeech/`) and replacing files (SPEAKERS.TXT etc. are identical across subsets)."""
    for entry in src.iterdir():
        target = dst / entry.name
        target_is_dir = target.is_dir() and not target.is_symlink()
        if entry.is_dir() and not entry.is_symlink() and target_is_dir:
            _merge_tree(entry, target)
        elif target_is_dir:
            raise AudioClfError(f"Cannot extract {entry.name}: {target} is a folder. Move it away.")
        else:
            os.replace(entry, target)


def _remove_stale_temp_dirs(dest: Path, subset: str) -> None:
    """Removes temporary folders left by an extraction that was killed before it could clean up."""
    for stale in dest.glob(f".{subset}.extract-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
