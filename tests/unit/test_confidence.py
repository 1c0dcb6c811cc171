"""The bounds behind the metric rules, against published values (Newcombe 1998; Brown, Cai & DasGupta 2001) and
against the binomial distribution itself."""

from __future__ import annotations

import math

import pytest

from deploycheck.kinds.metrics import confidence
from deploycheck.kinds.metrics.traffic import Traffic, slower_than


def test_wilson_matches_newcombes_worked_example():
    low, high = confidence.wilson(81, 263, 0.95)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize(
    ("counts", "published"),
    [((56, 70, 48, 80), (0.0524, 0.3339)), ((9, 10, 3, 10), (0.1705, 0.8090))],
)
def test_the_difference_matches_newcombes_method_10(counts, published):
    low, high = confidence.difference(*counts, 0.95)
    assert (round(low, 4), round(high, 4)) == published


@pytest.mark.parametrize(("limit", "needed"), [(0.01, 299), (0.001, 2995), (0.05, 59)])
def test_with_no_errors_a_pass_needs_about_three_over_the_limit(limit, needed):
    assert confidence.requests_needed(0, limit, 0.95) == needed
    assert confidence.upper_bound(0, needed, 0.95) <= limit < confidence.upper_bound(0, needed - 1, 0.95)


@pytest.mark.parametrize(("bad", "total"), [(1, 20), (3, 100), (12, 1532), (100, 5000)])
def test_the_exact_upper_bound_leaves_the_promised_tail(bad, total):
    upper = confidence.upper_bound(bad, total, 0.95)
    # At the bound, seeing this few bad requests or fewer has probability 5 %: by the binomial sum itself.
    tail = sum(math.comb(total, i) * upper**i * (1 - upper) ** (total - i) for i in range(bad + 1))
    assert tail == pytest.approx(0.05, abs=1e-6)


def test_large_counts_use_wilson_and_join_the_exact_bound_smoothly():
    exact = confidence.upper_bound(100, 100_000, 0.95)
    wilson = confidence.upper_bound(101, 100_000, 0.95)
    assert 0 < wilson - exact < 0.00002  # one more error moves the bound a little, in the right direction


def test_three_errors_in_a_hundred_prove_a_one_percent_breach():
    assert confidence.lower_bound(3, 100, 0.95) > 0.01
    assert confidence.lower_bound(1, 20, 0.95) < 0.01


def test_edges_never_divide_by_zero():
    assert confidence.upper_bound(0, 0, 0.95) == 1.0
    assert confidence.upper_bound(5, 5, 0.95) == 1.0
    assert confidence.wilson(0, 0, 0.95) == (0.0, 1.0)
    assert confidence.requests_needed(3, 0.0, 0.95) is None


def window(buckets=None, durations=None):
    return Traffic(1000.0, 0.0, 0.1, "5m", {}, buckets=buckets, durations=durations)


def test_slow_requests_are_read_at_a_bucket_edge_or_interpolated_inside_a_bucket():
    buckets = ((0.1, 500.0), (0.25, 900.0), (0.5, 1000.0), (math.inf, 1000.0))
    at_edge = slower_than(window(buckets), 0.25)
    assert (at_edge.count, at_edge.total, at_edge.how, at_edge.note) == (100.0, 1000.0, "bucket edge", None)
    inside = slower_than(window(buckets), 0.175)  # halfway from 100 ms to 250 ms: 500 + 400 / 2 at or below
    assert (inside.count, inside.how) == (300.0, "interpolated")
    assert inside.note == "interpolated between the bucket bounds 100 ms and 250 ms"
    lowest = slower_than(window(buckets), 0.05)  # the lowest bucket starts at 0, as in histogram_quantile
    assert lowest.count == 750.0


def test_above_the_highest_bound_every_request_beyond_it_counts_as_slow():
    buckets = ((0.1, 900.0), (0.25, 990.0), (math.inf, 1000.0))
    above = slower_than(window(buckets), 1.0)
    assert above.count == 10.0 and "every request above it counts as slower" in (above.note or "")


def test_timed_requests_are_counted_and_a_broken_histogram_gives_nothing():
    assert slower_than(window(durations=(0.1, 0.3, 0.25)), 0.2).count == 2
    assert slower_than(window(((0.1, 5.0), (0.2, 9.0))), 0.15) is None  # no +Inf bucket
    assert slower_than(window(()), 0.15) is None
