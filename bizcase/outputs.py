"""Writing outputs atomically: all or nothing.

A run's files are written in three steps:

1. *stage*: each file is written to a hidden temporary file in the target folder
   (``.<name>.<random>.tmp``), flushed and fsynced;
2. *back up*: every file about to be replaced is hard-linked to a hidden backup;
3. *commit*: each staged file is renamed over its target (``os.replace``, atomic on one
   file system), then the folder itself is fsynced.

Any failure or interrupt (Ctrl-C) before the commit ends leaves the folder as it was; one
during the commit (a file open in another program, a disk error, a second Ctrl-C between
two renames) is rolled back from the backups, so a previous report stays byte-for-byte
intact and no temporary file remains. Stale temporary files of a killed run are removed
the next time the same outputs are written.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from bizcase.errors import OutputError

#: Temporary files older than this [s] belong to a run that was killed; they are removed.
STALE_AFTER_SECONDS = 3600.0


def prepare_folder(folder: Path) -> None:
    """Check, before any work is done, that ``folder`` can receive outputs.

    Nothing is created: the folder (and any missing parents) is made only when the outputs
    are written, so a run that fails leaves no trace.

    Raises
    ------
    OutputError
        The folder, or one of its parents, is a file; or the nearest existing folder is not
        writable.
    """
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "is a file" if existing == folder else f"is below {existing}, which is a file"
        raise OutputError(f"--out {folder}: {where}, not a folder")
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"--out {folder}: {existing} is not writable")


def write_all(folder: Path, files: Mapping[str, bytes]) -> list[Path]:
    """Write every ``name -> bytes`` into ``folder``, all or nothing; return the paths written.

    Parameters
    ----------
    folder : Path
        Target folder; created (with parents) if missing.
    files : mapping of str to bytes
        Plain file names (no folders, not hidden) and their content.

    Raises
    ------
    OutputError
        A name that is not a plain file name, or any I/O error; the message says that
        nothing was replaced.
    """
    for name in files:
        _check_name(name)
    prepare_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"--out {folder}: cannot create the folder ({exc.strerror or exc})"
        ) from None
    _remove_stale(folder, list(files))

    staged: dict[str, Path] = {}
    backups: dict[str, Path] = {}
    replaced: list[str] = []
    current = ""
    try:
        for name, data in files.items():
            current = name
            staged[name] = _stage(folder, name, data)
        for name in files:
            current = name
            target = folder / name
            if target.exists():
                backups[name] = _backup(folder, name)
        for name in files:
            current = name
            replaced.append(name)
            os.replace(staged[name], folder / name)
        _fsync_folder(folder)
    except BaseException as exc:
        _roll_back(folder, replaced, backups)
        if isinstance(exc, OSError):
            raise OutputError(_explain(folder / current, exc)) from None
        raise
    finally:
        # Whatever temporary name still exists: staged files not committed, backups not
        # restored, and backups a rollback left behind because they were hard links to
        # the very file they restore (renaming one link over the other does nothing).
        for path in [*staged.values(), *backups.values()]:
            with contextlib.suppress(OSError):
                path.unlink()
    return [folder / name for name in files]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _check_name(name: str) -> None:
    if (
        not name
        or name in (".", "..")
        or name.startswith(".")
        or any(sep in name for sep in ("/", "\\", "\0"))
        or Path(name).name != name
    ):
        raise OutputError(f"output file name {name!r}: must be a plain, visible file name")


def _stage(folder: Path, name: str, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    path = Path(tmp)
    try:
        # mkstemp creates the file private (0600); a report gets the usual mode for new files
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return path


def _backup(folder: Path, name: str) -> Path:
    """A hidden second name for the current ``folder/name`` (a hard link, else a copy)."""
    backup = folder / f".{name}.{secrets.token_hex(6)}.bak.tmp"
    try:
        os.link(folder / name, backup)
    except OSError:
        shutil.copy2(folder / name, backup)
    return backup


def _roll_back(folder: Path, replaced: list[str], backups: dict[str, Path]) -> None:
    """Put back the previous file of every name already replaced; remove new ones."""
    for name in reversed(replaced):
        target = folder / name
        with contextlib.suppress(OSError):
            if name in backups:
                os.replace(backups[name], target)
            else:
                target.unlink()


def _remove_stale(folder: Path, names: list[str]) -> None:
    cutoff = time.time() - STALE_AFTER_SECONDS
    for name in names:
        for path in folder.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()


def _fsync_folder(folder: Path) -> None:
    """Make the renames durable where the platform allows fsync on a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _explain(path: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    hint = ""
    if isinstance(exc, PermissionError):
        hint = "; if it is open in another program (Excel, a PDF viewer), close it and run again"
    return f"{path}: could not be written ({reason}){hint}; nothing was replaced"
