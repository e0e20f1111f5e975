"""The statistics behind intervals and before/after comparisons: pure functions, standard library only.

Every interval is a 95% interval (``Z_95``); every p-value is two-sided. Proportions are fractions in
0..1 here (callers scale to percent). The formulas, each cited where it is defined:

- Wilson score interval of one proportion (Wilson 1927), in Python and as SQL for the boards;
- a difference of two proportions: Newcombe's hybrid score interval (Newcombe 1998, method 10), the
  pooled two-proportion z-test, or Fisher's exact test when any cell of the 2x2 table is below
  ``EXACT_BELOW`` (METRICS.md);
- a difference of two NPS: normal, with the variance 100²·(p + d - (p - d)²)/n of each NPS;
- a difference of two means (CES): Welch's t-test with the Welch-Satterthwaite degrees of freedom.

The Student t distribution comes from the regularized incomplete beta function (a continued
fraction, Numerical Recipes §6.4), so scipy is not needed for one function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

Z_95: Final = 1.959963984540054
"""The standard normal quantile of 0.975."""
EXACT_BELOW: Final = 10
"""A 2x2 table with a cell count below this is tested with Fisher's exact test."""


@dataclass(frozen=True)
class Comparison:
    """After minus before: the difference, its 95% interval, the two-sided p-value and the method.

    Fields are ``None`` where the data cannot define them (an empty side, no variance).
    """

    difference: float | None
    low: float | None
    high: float | None
    p_value: float | None
    method: str


UNDEFINED: Final = Comparison(None, None, None, None, "undefined")


def normal_two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2))


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of ``successes / n`` (fractions); (0, 1) when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_sql(successes: str, n: str) -> tuple[str, str]:
    """The Wilson 95% bounds in percent as SQL over two count expressions; NULL where n is 0.

    The same formula as :func:`wilson`, for the boards (tests hold the two equal).
    """
    z2 = repr(Z_95 * Z_95)
    p = f"({successes}) / nullIf({n}, 0)"
    centre = f"({p} + {z2} / (2 * ({n})))"
    half = f"{Z_95!r} * sqrt({p} * (1 - {p}) / ({n}) + {z2} / (4 * ({n}) * ({n})))"
    scale = f"100 / (1 + {z2} / ({n}))"
    return (f"greatest(0, {scale} * ({centre} - {half}))",
            f"least(100, {scale} * ({centre} + {half}))")


def nps_interval(promoters: int, detractors: int, n: int) -> tuple[float, float]:
    """95% normal interval of an NPS (points) by its variance; (-100, 100) when ``n`` is 0."""
    if n <= 0:
        return -100.0, 100.0
    nps = 100.0 * (promoters - detractors) / n
    half = Z_95 * math.sqrt(nps_variance(promoters, detractors, n))
    return max(-100.0, nps - half), min(100.0, nps + half)


def nps_interval_sql(promoters: str, detractors: str, n: str) -> tuple[str, str]:
    """:func:`nps_interval` as SQL over three count expressions; NULL where n is 0."""
    p, d = f"({promoters}) / nullIf({n}, 0)", f"({detractors}) / nullIf({n}, 0)"
    nps = f"100 * ({p} - {d})"
    half = f"{Z_95!r} * sqrt(10000 * ({p} + {d} - ({p} - {d}) * ({p} - {d})) / ({n}))"
    return f"greatest(-100, {nps} - {half})", f"least(100, {nps} + {half})"


def newcombe_interval(s_before: int, n_before: int, s_after: int, n_after: int,
                      z: float = Z_95) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``p_after - p_before`` (fractions), from two Wilson intervals."""
    p0, p1 = s_before / n_before, s_after / n_after
    l0, u0 = wilson(s_before, n_before, z)
    l1, u1 = wilson(s_after, n_after, z)
    difference = p1 - p0
    low = difference - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return low, high


def two_proportion_z_p(s_before: int, n_before: int, s_after: int, n_after: int) -> float:
    """Two-sided p of the pooled two-proportion z-test; 1.0 where the pooled share is 0 or 1."""
    pooled = (s_before + s_after) / (n_before + n_after)
    variance = pooled * (1 - pooled) * (1 / n_before + 1 / n_after)
    if variance <= 0:
        return 1.0
    return normal_two_sided_p((s_after / n_after - s_before / n_before) / math.sqrt(variance))


def fisher_exact_p(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p of Fisher's exact test on the 2x2 table [[a, b], [c, d]].

    The sum of the probabilities of every table with the same margins that is no more likely than
    the observed one (the convention of R's ``fisher.test`` and scipy), with a relative tolerance
    so that equally likely tables are not lost to rounding.
    """
    row1, col1, total = a + b, a + c, a + b + c + d

    def probability(x: int) -> float:
        return math.comb(col1, x) * math.comb(total - col1, row1 - x) / math.comb(total, row1)

    observed = probability(a)
    tables = range(max(0, row1 + col1 - total), min(row1, col1) + 1)
    return min(1.0, sum(p for p in map(probability, tables) if p <= observed * (1 + 1e-7)))


def compare_proportions(s_before: int, n_before: int, s_after: int, n_after: int) -> Comparison:
    """After minus before of two proportions (fractions), Fisher's exact test when a cell is < 10."""
    if n_before <= 0 or n_after <= 0:
        return UNDEFINED
    low, high = newcombe_interval(s_before, n_before, s_after, n_after)
    cells = (s_before, n_before - s_before, s_after, n_after - s_after)
    if min(cells) < EXACT_BELOW:
        return Comparison(s_after / n_after - s_before / n_before, low, high,
                          fisher_exact_p(*cells), "Fisher exact")
    return Comparison(s_after / n_after - s_before / n_before, low, high,
                      two_proportion_z_p(s_before, n_before, s_after, n_after), "two-proportion z")


def nps_variance(promoters: int, detractors: int, n: int) -> float:
    """Variance of an NPS (in points, -100..100) from n answers: 100²·(p + d - (p - d)²)/n."""
    p, d = promoters / n, detractors / n
    return 100.0 ** 2 * (p + d - (p - d) ** 2) / n


def compare_nps(before: tuple[int, int, int], after: tuple[int, int, int]) -> Comparison:
    """After minus before of two NPS, each given as (promoters, detractors, answers); normal test."""
    (p0, d0, n0), (p1, d1, n1) = before, after
    if n0 <= 0 or n1 <= 0:
        return UNDEFINED
    difference = 100.0 * ((p1 - d1) / n1 - (p0 - d0) / n0)
    se = math.sqrt(nps_variance(p0, d0, n0) + nps_variance(p1, d1, n1))
    if se == 0:
        return Comparison(difference, difference, difference, None, "normal (NPS variance)")
    return Comparison(difference, difference - Z_95 * se, difference + Z_95 * se,
                      normal_two_sided_p(difference / se), "normal (NPS variance)")


@dataclass(frozen=True)
class Sample:
    """Sufficient statistics of a sample of scores: count, sum and sum of squares."""

    n: int
    total: float
    squares: float

    @property
    def mean(self) -> float:
        """The sample mean."""
        return self.total / self.n

    @property
    def variance(self) -> float:
        """The unbiased sample variance (n - 1 in the denominator), never below 0."""
        return max(0.0, (self.squares - self.total * self.total / self.n) / (self.n - 1))


def compare_means(before: Sample, after: Sample) -> Comparison:
    """After minus before of two means by Welch's t-test; undefined below 2 scores a side."""
    if before.n < 2 or after.n < 2:
        return UNDEFINED
    difference = after.mean - before.mean
    v0, v1 = before.variance / before.n, after.variance / after.n
    if v0 + v1 == 0:
        return Comparison(difference, difference, difference, None, "Welch t")
    se = math.sqrt(v0 + v1)
    df = (v0 + v1) ** 2 / (v0 * v0 / (before.n - 1) + v1 * v1 / (after.n - 1))
    half = student_t_quantile(0.975, df) * se
    return Comparison(difference, difference - half, difference + half,
                      student_t_two_sided_p(difference / se, df), "Welch t")


def student_t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom: I_{df/(df+t²)}(df/2, 1/2)."""
    return regularized_beta(df / (df + t * t), df / 2, 0.5)


def student_t_quantile(q: float, df: float) -> float:
    """The ``q`` quantile (0.5 < q < 1) of Student's t, by bisection on the two-sided tail."""
    tail = 2 * (1 - q)
    low, high = 0.0, 1.0
    while student_t_two_sided_p(high, df) > tail:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if student_t_two_sided_p(mid, df) > tail:
            low = mid
        else:
            high = mid
        if high - low < 1e-12:
            break
    return (low + high) / 2


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, for 0 <= x <= 1 and a, b > 0."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):  # the continued fraction converges fast here; else use symmetry
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1 - math.exp(log_front) * _beta_fraction(1 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < eps:
            break
    return result
