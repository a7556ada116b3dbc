"""Tests of bizcase.uncertainty.

Expected numbers come from independent sources, named at each test:
scipy.stats distributions (a separate implementation of every ppf/cdf),
textbook formulas (PERT mean (low + 4 mode + high) / 6, truncated-normal mean,
the bivariate-normal Spearman/Pearson relation) and hand calculations.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special, stats

from bizcase import uncertainty
from bizcase.errors import AssumptionError, BizcaseError
from bizcase.uncertainty import (
    Discrete,
    Fixed,
    LogNormal,
    Normal,
    Pert,
    Triangular,
    Uniform,
    ar1_noise,
    build_correlation_matrix,
    make_distribution,
    mean_reverting_log_deviation,
    rank_correlate,
    rank_correlation_sensitivities,
    sample_uniforms,
    spearman_to_pearson,
)

WHERE = 'assumptions/gigafactory.toml: uncertainty.variables."utilization.plateau"'
U = np.array([1e-9, 0.001, 0.05, 0.1, 0.25, 0.5, 0.7, 0.9, 0.99, 1 - 1e-9])


# --------------------------------------------------------------------------- #
# Distributions against scipy.stats
# --------------------------------------------------------------------------- #

# (bizcase distribution, scipy.stats frozen equivalent); the PERT shape
# parameters are computed by hand: alpha = 1 + 4 (0.20 - 0.10) / 0.25 = 2.6,
# beta = 1 + 4 (0.35 - 0.20) / 0.25 = 3.4.
SCIPY_EQUIVALENTS = [
    (Normal(100.0, 15.0), stats.norm(loc=100.0, scale=15.0)),
    (LogNormal(130.0, 0.2), stats.lognorm(s=0.2, scale=130.0)),
    (Triangular(0.6, 0.85, 0.95), stats.triang(c=0.25 / 0.35, loc=0.6, scale=0.35)),
    (Triangular(0.0, 0.0, 2.0), stats.triang(c=0.0, loc=0.0, scale=2.0)),
    (Triangular(0.0, 2.0, 2.0), stats.triang(c=1.0, loc=0.0, scale=2.0)),
    (Pert(0.10, 0.20, 0.35), stats.beta(2.6, 3.4, loc=0.10, scale=0.25)),
    (Pert(-0.05, 0.05, 0.40), stats.beta(1 + 4 * 0.10 / 0.45, 1 + 4 * 0.35 / 0.45, -0.05, 0.45)),
    (Pert(0.0, 1.0, 3.0, lamb=2.0), stats.beta(1 + 2 / 3, 1 + 4 / 3, loc=0.0, scale=3.0)),
    (Uniform(1.0, 4.0), stats.uniform(loc=1.0, scale=3.0)),
]


@pytest.mark.parametrize(("dist", "reference"), SCIPY_EQUIVALENTS)
def test_ppf_and_cdf_match_scipy(dist, reference):
    # Source: scipy.stats' own implementation of each distribution.
    np.testing.assert_allclose(dist.ppf(U), reference.ppf(U), rtol=1e-10, atol=1e-12)
    x = reference.ppf(np.linspace(0.01, 0.99, 25))
    np.testing.assert_allclose(dist.cdf(x), reference.cdf(x), rtol=1e-10, atol=1e-12)
    assert dist.expected_value() == pytest.approx(reference.mean(), rel=1e-12)
    assert dist.p10_p90() == pytest.approx(tuple(reference.ppf([0.1, 0.9])), rel=1e-12)


def test_ppf_keeps_the_shape_of_u():
    u = np.full((3, 4), 0.5)
    assert Normal(0.0, 1.0).ppf(u).shape == (3, 4)
    assert Discrete((1.0, 2.0)).ppf(u).shape == (3, 4)
    assert Fixed(2.0).ppf(u).shape == (3, 4)


def test_discrete_ppf_by_cumulative_weights():
    # Hand calculation: weights 2:5:3 normalise to 0.2, 0.5, 0.3; cumulative
    # 0.2, 0.7, 1.0; values are sorted first.
    dist = Discrete((30.0, 10.0, 20.0), (3.0, 2.0, 5.0))
    assert dist.values == (10.0, 20.0, 30.0)
    assert dist.weights == pytest.approx((0.2, 0.5, 0.3))
    u = np.array([0.01, 0.19, 0.21, 0.69, 0.71, 0.999])
    assert dist.ppf(u).tolist() == [10.0, 10.0, 20.0, 20.0, 30.0, 30.0]
    # Same as scipy's rv_discrete away from the jump points.
    reference = stats.rv_discrete(values=([10, 20, 30], [0.2, 0.5, 0.3]))
    np.testing.assert_array_equal(dist.ppf(u), reference.ppf(u))
    assert dist.expected_value() == pytest.approx(0.2 * 10 + 0.5 * 20 + 0.3 * 30)
    assert dist.cdf(np.array([5.0, 10.0, 25.0, 30.0])).tolist() == pytest.approx(
        [0.0, 0.2, 0.7, 1.0]
    )
    # A zero weight is never drawn.
    skipping = Discrete((1.0, 2.0, 3.0), (1.0, 0.0, 1.0))
    assert 2.0 not in skipping.ppf(np.linspace(1e-9, 1 - 1e-9, 10_001))


SAMPLE_MEANS = [
    # (distribution, analytical mean from the textbook formula)
    (Normal(100.0, 15.0), 100.0),
    (LogNormal(130.0, 0.2), 130.0 * math.exp(0.2**2 / 2)),
    (Triangular(0.6, 0.85, 0.95), (0.6 + 0.85 + 0.95) / 3),
    (Pert(0.10, 0.20, 0.35), (0.10 + 4 * 0.20 + 0.35) / 6),
    (Pert(-0.05, 0.05, 0.40), (-0.05 + 4 * 0.05 + 0.40) / 6),
    (Uniform(1.0, 4.0), 2.5),
    (Discrete((1.0, 2.0, 4.0), (0.5, 0.25, 0.25)), 0.5 + 0.5 + 1.0),
]


@pytest.mark.parametrize(("dist", "mean"), SAMPLE_MEANS)
def test_sample_mean_matches_analytical_mean(dist, mean):
    u = np.random.default_rng(20260724).random(200_000)
    sample = dist.ppf(u)
    standard_error = sample.std() / math.sqrt(sample.size)
    assert abs(sample.mean() - mean) < 5 * standard_error
    assert dist.expected_value() == pytest.approx(mean, rel=1e-12)


# --------------------------------------------------------------------------- #
# Truncation
# --------------------------------------------------------------------------- #


def test_truncated_normal_matches_scipy_truncnorm():
    # Source: scipy.stats.truncnorm with standardised bounds.
    dist = Normal(0.05, 0.10, trunc_low=0.0, trunc_high=0.30)
    reference = stats.truncnorm((0.0 - 0.05) / 0.10, (0.30 - 0.05) / 0.10, loc=0.05, scale=0.10)
    np.testing.assert_allclose(dist.ppf(U), reference.ppf(U), rtol=1e-9, atol=1e-12)
    x = np.linspace(-0.1, 0.4, 31)
    np.testing.assert_allclose(dist.cdf(x), reference.cdf(x), atol=1e-12)
    assert dist.expected_value() == pytest.approx(reference.mean(), rel=1e-10)
    assert dist.support() == (0.0, 0.30)


@pytest.mark.parametrize(
    ("dist", "reference", "low", "high"),
    [
        (LogNormal(130.0, 0.2, trunc_high=160.0), stats.lognorm(s=0.2, scale=130.0), 0.0, 160.0),
        (
            Triangular(0.6, 0.85, 0.95, trunc_low=0.7),
            stats.triang(c=0.25 / 0.35, loc=0.6, scale=0.35),
            0.7,
            0.95,
        ),
        (
            Pert(-0.05, 0.05, 0.40, trunc_low=0.0, trunc_high=0.3),
            stats.beta(1 + 4 * 0.10 / 0.45, 1 + 4 * 0.35 / 0.45, -0.05, 0.45),
            0.0,
            0.3,
        ),
        (Uniform(1.0, 4.0, trunc_low=2.0), stats.uniform(loc=1.0, scale=3.0), 2.0, 4.0),
        (Normal(0.0, 1.0, trunc_low=-1.0), stats.norm(), -1.0, math.inf),
    ],
)
def test_truncation_keeps_samples_inside_and_matches_truncated_cdf(dist, reference, low, high):
    # Source: the truncated CDF (F(x) - F(a)) / (F(b) - F(a)) built from scipy's
    # CDF, and scipy's numerical conditional expectation.
    sample = dist.ppf(np.random.default_rng(7).random(200_000))
    assert sample.min() >= low
    assert sample.max() <= high
    mass = reference.cdf(high) - reference.cdf(low)
    x = np.quantile(sample, np.linspace(0.01, 0.99, 15))
    truncated_cdf = (reference.cdf(x) - reference.cdf(low)) / mass
    np.testing.assert_allclose(dist.cdf(x), truncated_cdf, atol=1e-12)
    empirical = (sample[:, None] <= x).mean(axis=0)
    np.testing.assert_allclose(empirical, truncated_cdf, atol=0.005)
    reference_mean = reference.expect(lambda v: v, lb=low, ub=high, conditional=True)
    assert dist.expected_value() == pytest.approx(reference_mean, rel=1e-7)


def test_untruncated_ppf_leaves_u_alone():
    # Without truncation u is used as given, not rescaled (no rounding).
    u = np.random.default_rng(3).random(1000)
    np.testing.assert_array_equal(Uniform(0.0, 1.0).ppf(u), u)


# --------------------------------------------------------------------------- #
# Zero spread
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("dist", "value"),
    [
        (Normal(5.0, 0.0), 5.0),
        (LogNormal(130.0, 0.0), 130.0),
        (Triangular(0.85, 0.85, 0.85), 0.85),
        (Pert(0.2, 0.2, 0.2), 0.2),
        (Uniform(3.0, 3.0), 3.0),
        (Fixed(7.5), 7.5),
        (Discrete((4.0,)), 4.0),
        (Normal(5.0, 0.0, trunc_low=0.0, trunc_high=10.0), 5.0),
        (Pert(0.2, 0.2, 0.2, trunc_low=0.1), 0.2),
    ],
)
def test_zero_spread_gives_exactly_the_value(dist, value):
    u = np.concatenate([[1e-12, 1 - 1e-12], U])
    values = dist.ppf(u)
    assert np.all(values == value)
    assert dist.expected_value() == value
    assert dist.support() == (value, value)
    assert dist.p10_p90() == (value, value)


def test_zero_spread_specs_build():
    for spec in (
        {"dist": "triangular", "low": 0.85, "mode": 0.85, "high": 0.85},
        {"dist": "normal", "mean": 0.85, "sd": 0},
        {"dist": "lognormal", "median": 0.85, "sigma": 0.0},
        {"dist": "pert", "low": 0.85, "mode": 0.85, "high": 0.85},
        {"dist": "uniform", "low": 0.85, "high": 0.85},
        {"dist": "fixed", "value": 0.85},
    ):
        assert np.all(make_distribution(spec, WHERE).ppf(U) == 0.85)


# --------------------------------------------------------------------------- #
# make_distribution
# --------------------------------------------------------------------------- #


def test_make_distribution_builds_each_kind():
    assert make_distribution(
        {"dist": "triangular", "low": 0.6, "mode": 0.85, "high": 0.95}, WHERE
    ) == Triangular(0.6, 0.85, 0.95)
    assert make_distribution({"dist": "lognormal", "median": 130, "sigma": 0.2}, WHERE) == (
        LogNormal(130.0, 0.2)
    )
    assert make_distribution({"dist": "normal", "mean": 1, "sd": 2}, WHERE) == Normal(1.0, 2.0)
    assert make_distribution(
        {"dist": "pert", "low": 0.1, "mode": 0.2, "high": 0.35}, WHERE
    ) == Pert(0.1, 0.2, 0.35)
    assert make_distribution(
        {"dist": "pert", "low": 0.1, "mode": 0.2, "high": 0.35, "lamb": 6}, WHERE
    ) == Pert(0.1, 0.2, 0.35, lamb=6.0)
    assert make_distribution({"dist": "uniform", "low": 1.0, "high": 4.0}, WHERE) == Uniform(
        1.0, 4.0
    )
    assert make_distribution(
        {"dist": "discrete", "values": [1, 2], "weights": [1, 3]}, WHERE
    ) == Discrete((1.0, 2.0), (0.25, 0.75))
    assert make_distribution({"dist": "discrete", "values": [1, 2]}, WHERE) == Discrete(
        (1.0, 2.0), (0.5, 0.5)
    )
    assert make_distribution({"dist": "fixed", "value": 3}, WHERE) == Fixed(3.0)


@pytest.mark.parametrize(
    ("truncate", "low", "high"),
    [
        ([0.0, 0.3], 0.0, 0.3),
        ([0.0, math.inf], 0.0, math.inf),
        ([-math.inf, 0.3], -math.inf, 0.3),
        ([None, 0.3], -math.inf, 0.3),
        ({"low": 0.0}, 0.0, math.inf),
        ({"high": 0.3}, -math.inf, 0.3),
    ],
)
def test_make_distribution_truncation_forms(truncate, low, high):
    dist = make_distribution({"dist": "normal", "mean": 0.1, "sd": 0.1, "truncate": truncate}, "w")
    assert dist == Normal(0.1, 0.1, trunc_low=low, trunc_high=high)


def test_make_distribution_accepts_sources():
    spec = {
        "dist": "uniform",
        "low": 1.0,
        "high": 4.0,
        "low_source": "bid documents",
        "source": "EIB market study",
    }
    assert make_distribution(spec, WHERE) == Uniform(1.0, 4.0)


# Each case: spec, then text that the message must contain (key and value).
INVALID_SPECS = [
    ({"dist": "trangular", "low": 0, "mode": 1, "high": 2}, ['dist = "trangular"', '"triangular"']),
    ({"low": 0, "high": 1}, ["dist is missing"]),
    ({"dist": "normal", "mean": 1.0}, ["sd is missing"]),
    ({"dist": "normal", "mean": 1.0, "sd": 0.1, "sdev": 0.2}, ["sdev = 0.2", 'did you mean "sd"']),
    ({"dist": "normal", "mean": 1.0, "sd": -0.1}, ["sd = -0.1", ">= 0"]),
    ({"dist": "normal", "mean": math.nan, "sd": 0.1}, ["mean = nan", "finite"]),
    ({"dist": "normal", "mean": "1.0", "sd": 0.1}, ['mean = "1.0"', "number"]),
    ({"dist": "normal", "mean": True, "sd": 0.1}, ["mean = true", "number"]),
    ({"dist": "lognormal", "median": 0, "sigma": 0.2}, ["median = 0", "> 0"]),
    ({"dist": "lognormal", "median": 130, "sigma": -0.2}, ["sigma = -0.2", ">= 0"]),
    ({"dist": "triangular", "low": 0.6, "mode": 0.99, "high": 0.95}, ["mode = 0.99", "high"]),
    ({"dist": "triangular", "low": 0.6, "mode": 0.5, "high": 0.95}, ["mode = 0.5", "low"]),
    ({"dist": "pert", "low": 0.4, "mode": 0.3, "high": 0.2}, ["high = 0.2", "low = 0.4"]),
    ({"dist": "pert", "low": 0.1, "mode": 0.2, "high": 0.3, "lamb": -1}, ["lamb = -1", ">= 0"]),
    ({"dist": "uniform", "low": 4.0, "high": 1.0}, ["high = 1.0", "low = 4.0"]),
    ({"dist": "uniform", "low": 1.0, "high": math.inf}, ["high = inf", "finite"]),
    ({"dist": "discrete", "values": [1, 2], "weights": [1, -1]}, ["weights[1] = -1", ">= 0"]),
    ({"dist": "discrete", "values": [1, 2], "weights": [0, 0]}, ["weights = [0, 0]", "> 0"]),
    ({"dist": "discrete", "values": [1, 2], "weights": [1, 2, 3]}, ["weights = [1, 2, 3]", "many"]),
    ({"dist": "discrete", "values": []}, ["values = []", "non-empty"]),
    ({"dist": "discrete", "values": [1, "b"]}, ['values[1] = "b"', "number"]),
    (
        {"dist": "discrete", "values": [1, 2], "truncate": [0, 1]},
        ["truncate = [0, 1]", "not available"],
    ),
    ({"dist": "normal", "mean": 0, "sd": 1, "truncate": [1, 0]}, ["truncate = [1, 0]", "<"]),
    ({"dist": "normal", "mean": 0, "sd": 1, "truncate": [1]}, ["truncate = [1]", "[low, high]"]),
    ({"dist": "normal", "mean": 0, "sd": 1, "truncate": [math.inf, 2]}, ["truncate[0] = inf"]),
    (
        {"dist": "uniform", "low": 0, "high": 1, "truncate": [2, 3]},
        ["truncate = [2, 3]", "overlap the support [0.0, 1.0]"],
    ),
    (
        {"dist": "lognormal", "median": 130, "sigma": 0.2, "truncate": [-5, 0]},
        ["truncate = [-5, 0]", "overlap"],
    ),
    (
        {"dist": "normal", "mean": 0, "sd": 1, "truncate": [7, 8]},
        ["truncate = [7, 8]", "at least 1e-09"],
    ),
    (
        {"dist": "fixed", "value": 1.0, "truncate": [0, 2]},
        ["truncate = [0, 2]", "not available"],
    ),
    (
        {"dist": "normal", "mean": 5, "sd": 0, "truncate": [0, 1]},
        ["truncate = [0, 1]", "overlap"],
    ),
    ({"dist": "normal", "mean": 0, "sd": 1, "truncate": {"lo": 1}}, ["truncate.lo = 1", '"low"']),
    ({"dist": ["normal"], "mean": 0, "sd": 1}, ['dist = ["normal"]']),
]


@pytest.mark.parametrize(("spec", "expected"), INVALID_SPECS)
def test_invalid_specs_are_refused_naming_key_and_value(spec, expected):
    with pytest.raises(AssumptionError) as raised:
        make_distribution(spec, WHERE)
    message = str(raised.value)
    assert message.startswith(WHERE)
    for text in expected:
        assert text in message


def test_every_problem_is_reported_at_once():
    spec = {"dist": "lognormal", "median": -1, "sigma": math.nan, "shape": 2}
    with pytest.raises(AssumptionError) as raised:
        make_distribution(spec, WHERE)
    lines = str(raised.value).splitlines()
    assert len(lines) == 3
    assert all(line.startswith(WHERE) for line in lines)
    assert any("median = -1" in line for line in lines)
    assert any("sigma = nan" in line for line in lines)
    assert any("shape = 2" in line for line in lines)
    assert isinstance(raised.value, BizcaseError)


def test_non_mapping_spec_is_refused():
    with pytest.raises(AssumptionError, match="must be a table"):
        make_distribution(0.85, WHERE)  # type: ignore[arg-type]


@given(
    low=st.floats(-1e6, 1e6),
    width=st.floats(1e-3, 1e6),
    mode_share=st.floats(0.0, 1.0),
    u=st.lists(st.floats(1e-12, 1 - 1e-12), min_size=2, max_size=20),
)
def test_bounded_ppfs_are_monotone_and_inside_support(low, width, mode_share, u):
    # Property: an inverse CDF is non-decreasing and stays on the support.
    high = low + width
    mode = min(high, max(low, low + mode_share * width))
    probabilities = np.sort(np.array(u))
    for dist in (Triangular(low, mode, high), Pert(low, mode, high), Uniform(low, high)):
        values = dist.ppf(probabilities)
        assert np.all(np.isfinite(values))
        assert np.all(np.diff(values) >= -1e-9 * max(1.0, abs(high)))
        assert np.all(values >= low - 1e-9 * abs(low)) and np.all(values <= high + 1e-9 * abs(high))


# --------------------------------------------------------------------------- #
# Sampling
# --------------------------------------------------------------------------- #


def test_lhs_has_exactly_one_sample_per_stratum():
    n_paths, n_dims = 1000, 5
    u = sample_uniforms(n_paths, n_dims, "lhs", np.random.default_rng(11))
    strata = np.floor(u * n_paths).astype(int)
    for column in range(n_dims):
        assert sorted(strata[:, column].tolist()) == list(range(n_paths))
    # Columns are permuted independently, not in lockstep.
    assert not np.array_equal(strata[:, 0], strata[:, 1])


@pytest.mark.parametrize("method", ["lhs", "sobol", "random"])
@pytest.mark.parametrize("n_paths", [1000, 1024, 1])
def test_sampling_shape_range_and_reproducibility(method, n_paths):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Sobol's balance warning must be silenced
        first = sample_uniforms(n_paths, 4, method, np.random.default_rng(42))
        again = sample_uniforms(n_paths, 4, method, np.random.default_rng(42))
        other = sample_uniforms(n_paths, 4, method, np.random.default_rng(43))
    assert first.shape == (n_paths, 4)
    assert np.all(first >= 1e-12) and np.all(first <= 1 - 1e-12)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    if n_paths >= 1000:
        # Roughly uniform: the mean of each column is near 1/2.
        np.testing.assert_allclose(first.mean(axis=0), 0.5, atol=0.03)


def test_sobol_power_of_two_is_balanced():
    # A scrambled Sobol' net of 2^m points has one point per interval of width 2^-m.
    u = sample_uniforms(256, 3, "sobol", np.random.default_rng(5))
    for column in range(3):
        assert sorted(np.floor(u[:, column] * 256).astype(int).tolist()) == list(range(256))


def test_unknown_sampling_method_is_refused():
    with pytest.raises(ValueError, match="lhs"):
        sample_uniforms(10, 2, "halton", np.random.default_rng(0))


# --------------------------------------------------------------------------- #
# Rank correlation
# --------------------------------------------------------------------------- #


def test_spearman_to_pearson_formula():
    # Source: for a bivariate normal, rho_s = (6/pi) asin(rho_p / 2) (Pearson, 1907).
    rho_s = np.array([-1.0, -0.4, 0.0, 0.3, 1.0])
    rho_p = spearman_to_pearson(rho_s)
    np.testing.assert_allclose(6 / np.pi * np.arcsin(rho_p / 2), rho_s, atol=1e-15)
    assert rho_p[[0, 2, 4]].tolist() == [-1.0, 0.0, 1.0]


@pytest.mark.parametrize("target", [-0.8, -0.4, 0.3, 0.7])
def test_rank_correlation_reaches_target_and_keeps_marginals(target):
    u = sample_uniforms(10_000, 2, "lhs", np.random.default_rng(2026))
    matrix, notes = build_correlation_matrix(["a", "b"], [["a", "b", target]], "w")
    assert notes == []
    correlated = rank_correlate(u, matrix)
    achieved = stats.spearmanr(correlated[:, 0], correlated[:, 1])[0]
    assert abs(achieved - target) < 0.02
    # Iman–Conover only re-pairs: each column holds exactly the same values.
    np.testing.assert_array_equal(np.sort(correlated, axis=0), np.sort(u, axis=0))
    # The marginals after a ppf are therefore unchanged too.
    pert = Pert(0.10, 0.20, 0.35)
    np.testing.assert_array_equal(np.sort(pert.ppf(correlated[:, 1])), np.sort(pert.ppf(u[:, 1])))


def test_rank_correlation_of_several_variables():
    names = ["utilization.plateau", "revenue.price_decline", "capex.overrun"]
    pairs = [
        ["utilization.plateau", "revenue.price_decline", -0.4],
        ["revenue.price_decline", "capex.overrun", 0.5],
    ]
    matrix, _ = build_correlation_matrix(names, pairs, "w")
    u = sample_uniforms(10_000, 3, "lhs", np.random.default_rng(8))
    achieved = stats.spearmanr(rank_correlate(u, matrix))[0]
    np.testing.assert_allclose(achieved, matrix, atol=0.02)


def test_rank_correlate_with_identity_removes_chance_correlation():
    u = sample_uniforms(500, 3, "random", np.random.default_rng(9))
    decorrelated = rank_correlate(u, np.eye(3))
    achieved = stats.spearmanr(decorrelated)[0]
    assert np.max(np.abs(achieved - np.eye(3))) < 0.01


def test_rank_correlate_leaves_tiny_inputs_alone():
    one_path = np.array([[0.3, 0.6]])
    np.testing.assert_array_equal(rank_correlate(one_path, [[1, 0.5], [0.5, 1]]), one_path)


def test_build_correlation_matrix_is_symmetric_in_name_order():
    matrix, notes = build_correlation_matrix(
        ["a", "b", "c"], [["c", "a", 0.3], ["b", "c", -0.2], ["a", "c", 0.3]], "w"
    )
    expected = np.array([[1.0, 0.0, 0.3], [0.0, 1.0, -0.2], [0.3, -0.2, 1.0]])
    np.testing.assert_array_equal(matrix, expected)
    assert notes == []


def test_non_positive_definite_matrix_is_refused_naming_the_pairs():
    # Three variables cannot all be pairwise -0.9 (the matrix has eigenvalue
    # 1 - 2 × 0.9 = -0.8 along (1, 1, 1); hand calculation).
    names = ["a", "b", "c"]
    pairs = [["a", "b", -0.9], ["a", "c", -0.9], ["b", "c", -0.9]]
    where = "assumptions/gigafactory.toml: uncertainty.correlation"
    with pytest.raises(AssumptionError) as raised:
        build_correlation_matrix(names, pairs, where)
    message = str(raised.value)
    assert message.startswith(where)
    assert '["a", "b", -0.9]' in message
    assert '["a", "c", -0.9]' in message
    assert '["b", "c", -0.9]' in message
    assert "positive definite" in message
    assert "-0.8" in message

    matrix, notes = build_correlation_matrix(names, pairs, where, repair=True)
    np.testing.assert_allclose(matrix, matrix.T)
    np.testing.assert_array_equal(np.diag(matrix), 1.0)
    assert np.linalg.eigvalsh(matrix).min() > 0
    assert np.linalg.eigvalsh(spearman_to_pearson(matrix)).min() > 0
    np.linalg.cholesky(spearman_to_pearson(matrix))
    # The nearest equicorrelation matrix is about -0.5 (Pearson), i.e. -0.48 (Spearman).
    assert np.all(matrix[np.triu_indices(3, 1)] == pytest.approx(-0.4826, abs=1e-3))
    assert len(notes) == 1
    assert "nearest valid correlation matrix" in notes[0]
    assert "-0.900 -> -0.483" in notes[0]
    # The repaired matrix is usable.
    u = sample_uniforms(2000, 3, "lhs", np.random.default_rng(1))
    assert rank_correlate(u, matrix).shape == (2000, 3)


def test_perfect_correlation_is_singular_and_refused_unless_repaired():
    with pytest.raises(AssumptionError, match="positive definite"):
        build_correlation_matrix(["a", "b"], [["a", "b", 1.0]], "w")
    matrix, notes = build_correlation_matrix(["a", "b"], [["a", "b", 1.0]], "w", repair=True)
    assert 0.99 < matrix[0, 1] < 1.0
    assert len(notes) == 1


INVALID_PAIRS = [
    ([["a", "bb", 0.3]], ['pairs[0][1] = "bb"', 'did you mean "b"']),
    ([["a", "a", 0.3]], ['pairs[0] = ["a", "a", 0.3]', "itself"]),
    ([["a", "b", 1.5]], ["pairs[0][2] = 1.5", "[-1, 1]"]),
    ([["a", "b", "high"]], ['pairs[0][2] = "high"', "number"]),
    ([["a", "b", math.nan]], ["pairs[0][2] = nan", "finite"]),
    ([["a", "b"]], ['pairs[0] = ["a", "b"]', "[name_a, name_b, rho]"]),
    ([["a", "b", 0.3], ["b", "a", 0.4]], ['pairs[1] = ["b", "a", 0.4]', "already given as 0.3"]),
]


@pytest.mark.parametrize(("pairs", "expected"), INVALID_PAIRS)
def test_invalid_pairs_are_refused(pairs, expected):
    where = "assumptions/gigafactory.toml: uncertainty.correlation"
    with pytest.raises(AssumptionError) as raised:
        build_correlation_matrix(["a", "b", "c"], pairs, where)
    message = str(raised.value)
    assert message.startswith(where)
    for text in expected:
        assert text in message


def test_a_pair_repeated_with_the_same_value_is_accepted():
    matrix, _ = build_correlation_matrix(["a", "b"], [["a", "b", 0.3], ["b", "a", 0.3]], "w")
    assert matrix[0, 1] == 0.3


# --------------------------------------------------------------------------- #
# Time-series processes
# --------------------------------------------------------------------------- #


def test_ar1_hand_calculation():
    # Hand calculation with all innovations 1, sd 1, phi 0.6: sqrt(1 - 0.36) = 0.8;
    # x0 = 1, x1 = 0.6 + 0.8 = 1.4, x2 = 0.84 + 0.8 = 1.64.
    noise = ar1_noise(np.ones((2, 3)), 2, 3, 1.0, 0.6)
    np.testing.assert_allclose(noise, [[1.0, 1.4, 1.64]] * 2)


def test_ar1_moments_match_parameters():
    sd, phi = 0.05, 0.6
    noise = ar1_noise(np.random.default_rng(1), 20_000, 30, sd, phi)
    assert noise.shape == (20_000, 30)
    # Stationary: every period has sd close to the parameter.
    np.testing.assert_allclose(noise.std(axis=0), sd, rtol=0.03)
    np.testing.assert_allclose(noise.mean(axis=0), 0.0, atol=0.003)
    lag1 = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    assert lag1 == pytest.approx(phi, abs=0.01)


def test_ar1_zero_sd_is_exactly_zero_and_seed_reproducible():
    assert np.all(ar1_noise(np.random.default_rng(1), 5, 4, 0.0, 0.6) == 0.0)
    first = ar1_noise(np.random.default_rng(3), 5, 4, 0.1, 0.6)
    np.testing.assert_array_equal(first, ar1_noise(np.random.default_rng(3), 5, 4, 0.1, 0.6))


def test_normals_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="shape"):
        ar1_noise(np.ones((2, 2)), 2, 3, 1.0, 0.5)


def test_mean_reverting_multiplier_hand_calculation():
    # Hand calculation with zero innovations: d_t = 0, v_0 = 0.04,
    # v_1 = 0.25 × 0.04 + 0.04 = 0.05, v_2 = 0.25 × 0.05 + 0.04 = 0.0525.
    multiplier = mean_reverting_log_deviation(np.zeros((1, 3)), 1, 3, 0.2, 0.5)
    np.testing.assert_allclose(multiplier, [np.exp(-0.5 * np.array([0.04, 0.05, 0.0525]))])
    # Innovations of 1: d_0 = 0.2, d_1 = 0.5 × 0.2 + 0.2 = 0.3.
    multiplier = mean_reverting_log_deviation(np.ones((1, 2)), 1, 2, 0.2, 0.5)
    np.testing.assert_allclose(multiplier, [[np.exp(0.2 - 0.02), np.exp(0.3 - 0.025)]])


def test_mean_reverting_multiplier_has_mean_one():
    sigma, reversion = 0.15, 0.3
    multiplier = mean_reverting_log_deviation(
        np.random.default_rng(2), 50_000, 25, sigma, reversion
    )
    assert multiplier.shape == (50_000, 25)
    assert np.all(multiplier > 0)
    standard_error = multiplier.std(axis=0) / math.sqrt(50_000)
    assert np.all(np.abs(multiplier.mean(axis=0) - 1.0) < 5 * standard_error)
    # The log deviation reaches the stationary variance sigma² / (1 - (1 - k)²).
    stationary = sigma**2 / (1 - (1 - reversion) ** 2)
    log_variance = (np.log(multiplier[:, -1])).var()
    assert log_variance == pytest.approx(stationary, rel=0.03)


def test_mean_reverting_zero_sigma_is_exactly_one():
    multiplier = mean_reverting_log_deviation(np.random.default_rng(1), 4, 6, 0.0, 0.3)
    assert np.all(multiplier == 1.0)


# --------------------------------------------------------------------------- #
# Sensitivities
# --------------------------------------------------------------------------- #


def test_rank_correlation_sensitivities_match_scipy_spearmanr():
    rng = np.random.default_rng(4)
    inputs = rng.random((500, 3))
    inputs[:, 2] = np.round(inputs[:, 2], 1)  # ties
    output = 3 * inputs[:, 0] - inputs[:, 1] + 0.1 * rng.standard_normal(500)
    output[[3, 77, 200]] = np.nan
    result = rank_correlation_sensitivities(inputs, output)
    keep = ~np.isnan(output)
    # Source: scipy.stats.spearmanr on the rows where the output is defined.
    expected = [stats.spearmanr(inputs[keep, j], output[keep])[0] for j in range(3)]
    np.testing.assert_allclose(result, expected, rtol=1e-12)
    assert result[0] > 0.8 and result[1] < -0.1


def test_constant_input_gives_nan_sensitivity():
    inputs = np.column_stack([np.arange(5.0), np.full(5, 2.0)])
    result = rank_correlation_sensitivities(inputs, np.arange(5.0) ** 2)
    assert result[0] == pytest.approx(1.0)
    assert math.isnan(result[1])
    assert np.all(np.isnan(rank_correlation_sensitivities(inputs, [np.nan] * 5)))


@pytest.mark.parametrize("low, mode, high", [(0.10, 0.20, 0.35), (-0.05, 0.05, 0.40), (0.0, 0.0, 1.0), (0.0, 1.0, 1.0)])
def test_pert_ppf_of_large_samples_equals_the_exact_inverse(low, mode, high):
    # large samples use an interpolated inverse; scipy's betaincinv is the exact reference
    d = Pert(low, mode, high)
    u = np.random.default_rng(7).random(200_000)
    exact = low + (high - low) * special.betaincinv(d.alpha, d.beta, u)
    np.testing.assert_allclose(d.ppf(u), exact, rtol=0, atol=1e-11 * (high - low))


@given(st.lists(st.integers(-3, 3), min_size=1, max_size=60))
def test_average_ranks_equal_scipy_rankdata_with_ties(values):
    # scipy.stats.rankdata (method "average") is the independent reference
    a = np.asarray(values, dtype=float)
    np.testing.assert_array_equal(uncertainty._average_ranks(a), stats.rankdata(a))
