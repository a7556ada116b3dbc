"""Files shipped with bizcase: templates and the default assumption files.

In an installed wheel they live inside the package (``bizcase/templates``,
``bizcase/assumptions``); in a source checkout, beside it.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bizcase is installed without its {name}/ folder")


def templates_dir() -> Path:
    return _find("templates")


def assumptions_dir() -> Path:
    return _find("assumptions")


def default_assumptions() -> Path:
    """``assumptions/gigafactory.toml`` of the current folder if present, else the shipped one."""
    local = Path("assumptions") / "gigafactory.toml"
    return local if local.is_file() else assumptions_dir() / "gigafactory.toml"
