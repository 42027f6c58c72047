"""File access that works for local paths and for remote URIs (gs://, s3://, hdfs://).

Local paths go through the standard library (fast, and no TensorFlow import in light modules and
tests); anything with a scheme goes through tf.io.gfile, which is what the cluster uses.
"""
import hashlib
import os
import shutil
import stat
from typing import IO, List, Optional

from components.common.errors import AudioClfError


def is_remote(path: str) -> bool:
    return "://" in str(path)


def _gfile():
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    return tf.io.gfile


def join(*parts: str) -> str:
    return os.path.join(*[str(p) for p in parts])


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path: str) -> bool:
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def listdir(path: str) -> List[str]:
    if is_remote(path):
        return sorted(name.rstrip("/") for name in _gfile().listdir(path))
    return sorted(os.listdir(path))


def makedirs(path: str) -> None:
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_regular_file(path: str, hint: str = "") -> Optional[int]:
    """The size in bytes of local `path` if it is a regular file (a symbolic link is followed to one), found
    with os.stat alone: a FIFO, a device (/dev/zero) or a socket is refused WITHOUT being opened, since
    reading one can hang or never end. AudioClfError names the file and what it is, then `hint`;
    FileNotFoundError for a missing file or a dangling link. Remote paths (gs://, ...) hold only
    files and folders: None, unchecked."""
    if is_remote(path):
        return None
    info = os.stat(path)
    if stat.S_ISREG(info.st_mode):
        return info.st_size
    kind = next((word for test, word in _KINDS if test(info.st_mode)), "not a regular file")
    link = f" (a symbolic link to {os.path.realpath(path)})" if os.path.islink(path) else ""
    raise AudioClfError(f"{path}{link} is {kind}, not a regular file; only regular files are read. {hint}".rstrip())


def leaves_root(path: str, root: str) -> bool:
    """True when local `path`, named inside `root` (a folder, or a manifest file's folder), resolves through
    symbolic links to somewhere outside it. A path named outside the root (a manifest's absolute path) is
    not a link leaving it: False, as for remote paths."""
    if is_remote(path) or is_remote(root):
        return False
    base = os.path.abspath(root if os.path.isdir(root) else os.path.dirname(root))
    named = os.path.abspath(path)
    if os.path.commonpath([named, base]) != base:
        return False
    real_base = os.path.realpath(base)
    return os.path.commonpath([os.path.realpath(named), real_base]) != real_base


def open_file(path: str, mode: str = "rb") -> IO:
    if is_remote(path):
        return _gfile().GFile(path, mode)
    if not any(c in mode for c in "wax+"):
        check_regular_file(path)   # a FIFO or device named like a file must not hang or flood the reader
    return open(path, mode)  # pylint: disable=unspecified-encoding


def read_bytes(path: str, max_bytes: Optional[int] = None, setting: str = "") -> bytes:
    """The file's bytes; with `max_bytes`, a larger file is refused (AudioClfError naming `setting`) and
    no more than max_bytes + 1 bytes are ever read, even from a file that grows meanwhile."""
    with open_file(path, "rb") as f:
        data = f.read() if max_bytes is None else f.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise AudioClfError(f"{path} is larger than {max_bytes / 1e6:g} MB ({setting or 'the size limit'}); "
                            f"cut it into shorter recordings or raise the limit.")
    return data


def sha256(path: str, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read `chunk_bytes` at a time (large archives never sit in memory)."""
    digest = hashlib.sha256()
    with open_file(path, "rb") as f:
        while block := f.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    """Writes through a temporary name and renames, so a reader never sees half a file."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open_file(tmp, "wb") as f:
        f.write(data)
    if is_remote(path):
        _gfile().rename(tmp, path, overwrite=True)
    else:
        os.replace(tmp, path)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def remove_tree_contents(path: str) -> None:
    """Empties a directory (an artifact URI) without removing the directory itself."""
    if not exists(path):
        return
    for name in listdir(path):
        child = join(path, name)
        if is_remote(child):
            if _gfile().isdir(child):
                _gfile().rmtree(child)
            else:
                _gfile().remove(child)
        elif os.path.isdir(child) and not os.path.islink(child):
            shutil.rmtree(child)
        else:
            os.remove(child)
