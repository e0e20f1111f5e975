"""sql.stats against textbook examples with published answers, and against independent formulas."""

from __future__ import annotations

import math
import random

import pytest

from sql.stats import (
    Sample,
    compare_means,
    compare_nps,
    compare_proportions,
    fisher_exact_p,
    newcombe_interval,
    nps_variance,
    regularized_beta,
    student_t_quantile,
    student_t_two_sided_p,
    two_proportion_z_p,
    wilson,
)


@pytest.mark.parametrize(("successes", "n", "low", "high"), [
    # Newcombe (1998a), Statistics in Medicine 17:857, Table I, method 3 (Wilson score, no correction)
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_newcombe_1998(successes: int, n: int, low: float, high: float) -> None:
    assert [round(x, 4) for x in wilson(successes, n)] == [low, high]


@pytest.mark.parametrize(("a", "low", "high"), [
    # Newcombe (1998b), Statistics in Medicine 17:873, Table II, method 10 (hybrid score, no correction):
    # (successes 1, n 1, successes 2, n 2) -> interval of p1 - p2
    ((56, 70, 48, 80), 0.0524, 0.3339), ((9, 10, 3, 10), 0.1705, 0.8090), ((6, 7, 2, 7), 0.0582, 0.8062),
    ((5, 56, 0, 29), -0.0381, 0.1926), ((0, 10, 0, 20), -0.1611, 0.2775), ((10, 10, 0, 20), 0.6791, 1.0),
])
def test_difference_interval_matches_newcombe_1998(a: tuple[int, int, int, int], low: float,
                                                   high: float) -> None:
    s1, n1, s2, n2 = a
    assert [round(x, 4) for x in newcombe_interval(s2, n2, s1, n1)] == [low, high]


def test_fisher_exact_textbook_tables() -> None:
    # Fisher's lady tasting tea: 3 of 4 cups right each way; two-sided p = 34/70
    assert fisher_exact_p(3, 1, 1, 3) == pytest.approx(34 / 70)
    # the dieting example of the Wikipedia article "Fisher's exact test": two-sided p = 0.002759
    assert fisher_exact_p(1, 9, 11, 3) == pytest.approx(0.002759, abs=5e-7)
    assert fisher_exact_p(5, 5, 5, 5) == pytest.approx(1.0)


def test_fisher_exact_equals_brute_force_enumeration() -> None:
    rng = random.Random(3)
    for _ in range(30):
        a, b, c, d = (rng.randint(0, 9) for _ in range(4))
        row1, col1, total = a + b, a + c, a + b + c + d
        tables = [x for x in range(0, row1 + 1) if 0 <= col1 - x <= total - row1]
        weight = {x: math.comb(col1, x) * math.comb(total - col1, row1 - x) for x in tables}
        expected = sum(w for w in weight.values() if w <= weight[a]) / math.comb(total, row1)
        assert fisher_exact_p(a, b, c, d) == pytest.approx(expected)


def test_two_proportion_z_equals_the_chi_square_test_without_correction() -> None:
    before, after = (30, 100), (45, 100)  # successes, n
    observed = [[before[0], before[1] - before[0]], [after[0], after[1] - after[0]]]
    total = sum(map(sum, observed))
    chi2 = 0.0
    for i in range(2):
        for j in range(2):
            expected = sum(observed[i]) * (observed[0][j] + observed[1][j]) / total
            chi2 += (observed[i][j] - expected) ** 2 / expected
    assert two_proportion_z_p(*before, *after) == pytest.approx(math.erfc(math.sqrt(chi2 / 2)))


def test_compare_proportions_switches_to_the_exact_test_below_ten_in_a_cell() -> None:
    large = compare_proportions(300, 400, 330, 400)
    assert large.method == "two-proportion z" and large.difference == pytest.approx(0.075)
    assert large.low is not None and large.high is not None and large.low < 0.075 < large.high
    small = compare_proportions(3, 4, 1, 4)
    assert small.method == "Fisher exact" and small.p_value == pytest.approx(fisher_exact_p(3, 1, 1, 3))
    assert compare_proportions(0, 0, 3, 4).p_value is None


def test_welch_matches_the_textbook_example() -> None:
    # Wikipedia, "Welch's t-test", example 1 (two samples of 15): t = -2.46, p = 0.021
    a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]

    def sample(xs: list[float]) -> Sample:
        return Sample(len(xs), sum(xs), sum(x * x for x in xs))

    result = compare_means(sample(a2), sample(a1))
    assert result.p_value == pytest.approx(0.021, abs=5e-4)
    mean1, mean2 = sum(a1) / len(a1), sum(a2) / len(a2)
    var1 = sum((x - mean1) ** 2 for x in a1) / (len(a1) - 1)
    var2 = sum((x - mean2) ** 2 for x in a2) / (len(a2) - 1)
    se = math.sqrt(var1 / len(a1) + var2 / len(a2))
    assert (mean1 - mean2) / se == pytest.approx(-2.46, abs=5e-3)
    assert result.difference == pytest.approx(mean1 - mean2)
    df = (var1 / 15 + var2 / 15) ** 2 / ((var1 / 15) ** 2 / 14 + (var2 / 15) ** 2 / 14)
    assert result.high is not None and result.low is not None
    assert result.high - result.difference == pytest.approx(student_t_quantile(0.975, df) * se)


@pytest.mark.parametrize(("df", "quantile"), [(1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228),
                                               (30, 2.042), (120, 1.980)])
def test_t_quantiles_match_the_printed_table(df: int, quantile: float) -> None:
    assert student_t_quantile(0.975, df) == pytest.approx(quantile, abs=5e-4)
    assert student_t_two_sided_p(quantile, df) == pytest.approx(0.05, abs=2e-4)


def test_t_with_one_degree_of_freedom_is_cauchy() -> None:
    for t in (0.1, 1.0, 3.0, 40.0):
        assert student_t_two_sided_p(t, 1) == pytest.approx(1 - 2 * math.atan(t) / math.pi)


def test_regularized_beta_edges_and_symmetry() -> None:
    assert regularized_beta(0.0, 2, 3) == 0.0 and regularized_beta(1.0, 2, 3) == 1.0
    assert regularized_beta(0.3, 2, 3) == pytest.approx(1 - regularized_beta(0.7, 3, 2))
    assert regularized_beta(0.4, 1, 1) == pytest.approx(0.4)  # uniform


def test_nps_variance_is_the_variance_of_plus_100_zero_minus_100_scores() -> None:
    promoters, passives, detractors = 40, 35, 25
    n = promoters + passives + detractors
    scores = [100] * promoters + [0] * passives + [-100] * detractors
    mean = sum(scores) / n
    population_variance = sum((s - mean) ** 2 for s in scores) / n
    assert nps_variance(promoters, detractors, n) == pytest.approx(population_variance / n)
    result = compare_nps((40, 25, 100), (50, 20, 100))
    assert result.difference == pytest.approx(15.0)
    se = math.sqrt(nps_variance(40, 25, 100) + nps_variance(50, 20, 100))
    assert result.p_value == pytest.approx(math.erfc(15 / se / math.sqrt(2)))


def test_means_need_two_scores_a_side() -> None:
    assert compare_means(Sample(1, 5, 25), Sample(10, 50, 260)).p_value is None
    assert compare_means(Sample(3, 15, 75), Sample(3, 15, 75)).p_value is None  # no variance at all
