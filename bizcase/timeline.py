"""Timeline: annual periods, calendar years, construction and operation flags.

Period t = 0 … T−1 runs from 1 January to 31 December of calendar year
``start_year + t``. The first ``construction_years`` periods are construction; then
come ``operating_years`` periods of operation. Operating year y = t − construction_years
+ 1 (1 in the first operating period, 0 or less during construction). Flows fall at the
end of their period unless ``discounting = "mid"``. Only this module knows about periods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bizcase.finance import discount_factors


@dataclass(frozen=True)
class Timeline:
    """The periods of a case.

    Attributes
    ----------
    start_year : int
        Calendar year of period 0.
    construction_years, operating_years : int
        Lengths of the two phases [years].
    """

    start_year: int
    construction_years: int
    operating_years: int
    discounting: str = "end"

    @property
    def n_periods(self) -> int:
        return self.construction_years + self.operating_years

    @property
    def periods(self) -> np.ndarray:
        """Period index t, shape (T,)."""
        return np.arange(self.n_periods)

    @property
    def years(self) -> np.ndarray:
        """Calendar year of each period, shape (T,)."""
        return self.start_year + self.periods

    @property
    def operating_year(self) -> np.ndarray:
        """Operating year y = t − construction_years + 1, shape (T,); ≤ 0 in construction."""
        return self.periods - self.construction_years + 1

    @property
    def is_construction(self) -> np.ndarray:
        return self.periods < self.construction_years

    @property
    def is_operation(self) -> np.ndarray:
        return self.periods >= self.construction_years

    def discount_factors(self, rate: float | np.ndarray) -> np.ndarray:
        """Factors that value each period's flow at 1 January of ``start_year``.

        (1 + rate)^−(t+1) for year-end flows, (1 + rate)^−(t+0.5) for mid-year flows;
        shape ``np.shape(rate) + (T,)``.
        """
        return discount_factors(rate, self.n_periods, self.discounting)


def from_case(data: dict) -> Timeline:
    """Timeline of validated assumptions data."""
    p = data["project"]
    return Timeline(
        int(p["start_year"]), int(p["construction_years"]), int(p["operating_years"]), p["discounting"]
    )
