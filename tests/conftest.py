"""Shared fixtures: the tiny hand-computable plant and the default case."""

from __future__ import annotations

from pathlib import Path

import pytest

from bizcase import assumptions

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
DEFAULT = ROOT / "assumptions" / "gigafactory.toml"
TINY = DATA / "tiny.toml"

ANNUITY_TRANCHE = """
[[debt]]
name = "Term loan"
gearing = 0.5
interest_rate = 0.10
tenor_years = 3
grace_years = 0
repayment = "annuity"
min_dscr_covenant = 1.2
upfront_fee = 0.0
"""


def tiny_case(extra: str = "", **values: object) -> assumptions.Case:
    """The tiny plant, with extra TOML appended and dotted-path values set."""
    case = assumptions.loads((TINY.read_text() + extra).encode(), "tiny.toml")
    return case.with_values(values) if values else case


@pytest.fixture(scope="session")
def default_case() -> assumptions.Case:
    return assumptions.load(DEFAULT)
