"""Writing files so that a crash never leaves a half-written one.

Shared by run folders, exports and presets: JSON is written to a temporary
file and renamed; folders are built in a temporary folder beside their final
place and renamed into it. Also the SHA-256 checksums that presets carry.
"""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)


def write_json(path, payload):
    """Write JSON atomically (temporary file, then rename)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def staging_dir(path, overwrite, argument="path"):
    """Check `path` and make a temporary folder beside it to build into.

    Returns `(path, parent, tmp_dir)`. Raises FileExistsError, naming
    `argument`, when `path` exists and `overwrite` is false.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(
            f"`{argument}` {path!r} already exists. Pass overwrite=True to replace it."
        )
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    return path, parent, tempfile.mkdtemp(prefix=".staging-", dir=parent)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replace_atomically(tmp_dir, path, overwrite, argument="path"):
    """Move a finished folder from `tmp_dir` to `path` (replacing it if asked).

    The folder gets the permissions of a folder made with `os.makedirs`
    (`tempfile.mkdtemp` makes it private).
    """
    os.chmod(tmp_dir, 0o777 & ~_umask())
    if os.path.exists(path):
        if not overwrite:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise FileExistsError(
                f"`{argument}` {path!r} already exists. Pass overwrite=True to replace it."
            )
        old = tempfile.mkdtemp(prefix=".old-", dir=os.path.dirname(os.path.abspath(path)))
        os.rename(path, os.path.join(old, "model"))
        os.rename(tmp_dir, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp_dir, path)


@contextlib.contextmanager
def staged_folder(path, overwrite, argument="path"):
    """Build a folder in a temporary place, then move it to `path`.

    `with staged_folder(path, overwrite) as tmp_dir:` writes into `tmp_dir`;
    on success the folder replaces `path` at once (`replace_atomically`),
    on any error it is deleted, so `path` never holds half a folder.
    """
    path, _, tmp_dir = staging_dir(path, overwrite, argument=argument)
    try:
        yield tmp_dir
        replace_atomically(tmp_dir, path, overwrite, argument=argument)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


def sha256(path, chunk_size=1 << 20):
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_size(path):
    """Total size in bytes of the files under `path`."""
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )
