"""File access that works for local paths and for remote URIs (gs://, s3://, hdfs://).

Local paths go through the standard library (fast, and no TensorFlow import in light modules and
tests); anything with a scheme goes through tf.io.gfile, which is what the cluster uses.
"""
import os
import shutil
from typing import IO, List


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


def open_file(path: str, mode: str = "rb") -> IO:
    if is_remote(path):
        return _gfile().GFile(path, mode)
    return open(path, mode)  # pylint: disable=unspecified-encoding


def read_bytes(path: str) -> bytes:
    with open_file(path, "rb") as f:
        return f.read()


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
