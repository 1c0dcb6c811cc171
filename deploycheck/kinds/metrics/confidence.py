"""How sure a count makes us: bounds on a rate from k bad requests out of n, and on the difference of two rates.

The metric rules judge "the share of bad requests (errors, or requests slower than a limit) is at most p0" by
these bounds instead of the point estimate k/n, so that thin evidence neither passes nor fails a service:

- `upper_bound`: the exact one-sided bound (Clopper-Pearson) for counts up to EXACT_MAX_COUNT, Wilson's one-sided
  score bound above (where the two agree closely and the exact sum grows long). With k = 0 it is 1 - (1 - c)^(1/n):
  a 1 % limit needs 299 clean requests at 95 %.
- `lower_bound`: the lower end of Wilson's two-sided score interval, the interval recommended for binomial rates
  (Brown, Cai & DasGupta 2001); 3 errors in 100 put it at 1.03 %, past a 1 % limit.
- `difference`: Newcombe's hybrid score interval for p1 - p2 (his method 10), built from the two Wilson intervals;
  it keeps its coverage for small counts and rates near 0, where the textbook Wald interval does not.
Pure functions, no I/O. Counts are whole numbers (Prometheus's extrapolated increases are rounded by the caller).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

EXACT_MAX_COUNT = 100  # up to this many bad requests the exact binomial sum is cheap; beyond it Wilson is as good
_BISECTIONS = 60  # halvings of [0, 1]: far finer than any rate a message shows
LARGEST_NEEDED = 10**12  # "needs ≈ N requests" is not searched beyond this


def _z(confidence: float, sides: int) -> float:
    return NormalDist().inv_cdf(1 - (1 - confidence) / sides)


def wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson's two-sided score interval for k successes in n trials."""
    return _wilson(k, n, _z(confidence, 2))


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def lower_bound(k: int, n: int, confidence: float) -> float:
    """The lowest rate the evidence allows: the lower end of the two-sided Wilson interval."""
    return wilson(k, n, confidence)[0]


def upper_bound(k: int, n: int, confidence: float) -> float:
    """The highest rate the evidence allows, one-sided: exact for small counts, Wilson's bound for large ones."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    if k == 0:
        return 1 - (1 - confidence) ** (1 / n)
    if k > EXACT_MAX_COUNT:
        return _wilson(k, n, _z(confidence, 1))[1]
    # Clopper-Pearson: the rate at which seeing k or fewer bad requests has probability 1 - confidence.
    low, high = k / n, 1.0
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        if _at_most(k, n, middle) > 1 - confidence:
            low = middle
        else:
            high = middle
    return high


def _at_most(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (n may be in the millions)."""
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    return math.fsum(
        math.exp(base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q) for i in range(k + 1)
    )


def requests_needed(k: int, limit: float, confidence: float) -> int | None:
    """How many requests in all, with no more than these k bad ones, would show the rate to be within `limit`."""
    if limit <= 0:
        return None
    if limit >= 1:
        return max(k, 1)
    low, high = max(k, 1), max(k, 1)
    while upper_bound(k, high, confidence) > limit:
        low, high = high, high * 2
        if high > LARGEST_NEEDED:
            return None
    while low < high:  # the smallest n whose bound is within the limit
        middle = (low + high) // 2
        if upper_bound(k, middle, confidence) <= limit:
            high = middle
        else:
            low = middle + 1
    return high


def difference(k1: int, n1: int, k2: int, n2: int, confidence: float) -> tuple[float, float]:
    """Newcombe's interval for rate1 - rate2 (k1 of n1 now, k2 of n2 before)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, confidence)
    l2, u2 = wilson(k2, n2, confidence)
    rise = p1 - p2
    return rise - math.hypot(p1 - l1, u2 - p2), rise + math.hypot(u1 - p1, p2 - l2)


@dataclass(frozen=True)
class Count:
    """k bad requests out of n, and what they show against a limit on the share of bad ones."""

    bad: int
    total: int
    lower: float
    upper: float
    confidence: float

    @classmethod
    def of(cls, bad: int, total: int, confidence: float) -> Count:
        return cls(bad, total, lower_bound(bad, total, confidence), upper_bound(bad, total, confidence), confidence)

    @property
    def rate(self) -> float:
        return self.bad / self.total if self.total else math.nan
