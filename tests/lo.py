"""Recalculate workbooks in LibreOffice headless and read back the computed values.

LibreOffice trusts cached formula results by default; a throw-away user profile with
``OOXMLRecalcMode = 0`` ("always recalculate") forces every formula to be computed on
load (see research/ecosystem-tooling.md §1). Several workbooks are converted in one
``soffice`` call, because each start costs about 1.5 s.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")

needs_soffice = pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice (soffice) not installed; CI installs libreoffice-calc-nogui"
)

_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def recalc_files(paths: list[Path], outdir: Path, *, jobs: int = 2, timeout: float = 300.0) -> list[Path]:
    """Recalculate .xlsx files in LibreOffice; return the recalculated copies.

    The files are split over ``jobs`` concurrent ``soffice`` processes, each with its
    own throw-away profile (a profile cannot be shared by two running instances).
    """
    if SOFFICE is None:
        raise RuntimeError("soffice not found")
    outdir.mkdir(parents=True, exist_ok=True)
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise ValueError("workbooks converted together need distinct file names")
    groups = [paths[i::jobs] for i in range(jobs) if paths[i::jobs]]
    with tempfile.TemporaryDirectory(prefix="lo-profiles-") as root:
        procs = []
        for i, group in enumerate(groups):
            user = Path(root) / f"p{i}" / "user"
            user.mkdir(parents=True)
            (user / "registrymodifications.xcu").write_text(_PROFILE)
            cmd = [
                SOFFICE, f"-env:UserInstallation={user.parent.as_uri()}", "--headless", "--norestore",
                "--nologo", "--nodefault", "--convert-to", "xlsx:Calc MS Excel 2007 XML",
                "--outdir", str(outdir), *map(str, group),
            ]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        failures = []
        for proc in procs:
            _, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                failures.append(f"exit {proc.returncode}: {err[-1000:]}")
    out = [outdir / n for n in names]
    missing = [p for p in out if not p.exists()]
    if failures or missing:
        raise RuntimeError(f"LibreOffice failed ({'; '.join(failures)}); missing {missing}")
    return out


def recalc(workbooks: dict[str, bytes], workdir: Path) -> dict[str, Any]:
    """Recalculate workbooks given as bytes by name; return openpyxl ``data_only`` workbooks."""
    src = workdir / "in"
    src.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in workbooks.items():
        p = src / f"{name}.xlsx"
        p.write_bytes(data)
        paths.append(p)
    outs = recalc_files(paths, workdir / "out")
    return {name: openpyxl.load_workbook(p, data_only=True) for name, p in zip(workbooks, outs, strict=True)}
