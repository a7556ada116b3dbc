"""Writing outputs atomically: all or nothing.

Every output is first written to a temporary file in the target folder; only when all of
them exist are they renamed into place (``os.replace``, atomic on one file system). A run
that fails or is interrupted before that leaves a previous report byte-for-byte intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from bizcase.errors import BizcaseError


def prepare_folder(folder: Path) -> None:
    """Create the output folder, or explain why it cannot be used."""
    if folder.exists() and not folder.is_dir():
        raise BizcaseError(f"--out {folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BizcaseError(f"--out {folder}: cannot create the folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise BizcaseError(f"--out {folder}: the folder is not writable")


def write_all(folder: Path, files: Mapping[str, bytes]) -> list[Path]:
    """Write every ``name -> bytes`` into ``folder`` atomically; return the paths written."""
    prepare_folder(folder)
    staged: list[tuple[str, Path]] = []
    try:
        for name, data in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            staged.append((name, Path(tmp)))
        written = []
        for name, tmp in staged:
            target = folder / name
            os.replace(tmp, target)
            written.append(target)
        staged = []
        return written
    finally:
        for _, tmp in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
